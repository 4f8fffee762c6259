"""Change capture with the contract's ``references`` checked against the parents' lake tables.

Every captured insert or update is checked, per batch, against the parents' keys at their current
versions (deletes are not: removing a row whose parent is missing is no orphan). A ``quarantine``
reference's orphans are left out of the batch and written to the quarantine as ``orphan_reference``
in the batch's own commit, exactly once with it; a ``warn`` reference's orphans land and are counted
as the warning ``COLUMN:orphan_reference``. ``hold`` is refused for change capture before the slot
is touched (:func:`sluice.validate.held_contracts.ensure_no_hold`).

What each batch did is left in :attr:`CheckedSink.counts` for the capture loop to record with the batch.
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sluice.governance.protect import protector_for
from sluice.lake import staging, staging_runs
from sluice.lake.commit import Batch, CommitTarget, commit_batches
from sluice.lake.held import SOURCE_FILE, orphan_entries, parent_keys
from sluice.lake.lease import HeldLease, hold_lease, holder_name
from sluice.lake.table import CommitResult, table_uri
from sluice.sources.cdc.positions import LakePosition
from sluice.sources.cdc.sink import ChangesTable, KeyedTable, _LakeSink, source_name
from sluice.validate.chunk import BATCH_COL, ROW_COL
from sluice.validate.quality import Reason
from sluice.validate.references import ReferencePolicy, orphan_mask


@dataclass(frozen=True)
class OrphanCounts:
    """A batch's orphans: all of them, those quarantined, and the warnings of those that landed."""

    orphans: int = 0
    quarantined: int = 0
    warnings: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Split:
    keep: np.ndarray  # rows that go on to the lake
    counts: OrphanCounts
    quarantine: pa.Table | None  # the orphans of quarantine references, with provenance columns


class CheckedSink(_LakeSink):
    """The write of a change sink with the contract's references checked (mixed into the two sinks below)."""

    counts: OrphanCounts = OrphanCounts()  # the last batch written

    def _split(self, frame: pa.Table, batch: Batch) -> _Split:
        contract = self.contract
        parents = parent_keys(contract, partial(table_uri, self.lake_root), self.storage_options)
        checked = pc.not_equal(frame.column("_op"), "d").to_numpy(zero_copy_only=False)
        gone, anyref = np.zeros(frame.num_rows, dtype=bool), np.zeros(frame.num_rows, dtype=bool)
        warnings: dict[str, int] = {}
        label = ""
        for ref in contract.references:
            mask = orphan_mask(frame, ref, parents.get(ref.to)) & checked
            anyref |= mask
            if ref.policy is ReferencePolicy.QUARANTINE:
                gone |= mask
                label = label or ref.label
            elif ref.policy is ReferencePolicy.WARN and mask.any():
                warnings[f"{ref.label}:{Reason.ORPHAN_REFERENCE.value}"] = int(mask.sum())
        quarantine = None
        if gone.any():
            rows = frame.filter(pa.array(gone))
            rows = (
                rows.append_column(BATCH_COL, pa.repeat(batch.id, rows.num_rows))
                .append_column(ROW_COL, pa.array(np.flatnonzero(gone) + 1, pa.int64()))
                .append_column(SOURCE_FILE, pa.repeat(batch.source, rows.num_rows))
            )
            quarantine = orphan_entries(rows, contract, self.run_id, datetime.now(timezone.utc), label)
            guard = protector_for(contract)  # the entries keep original values: protected columns leave protected
            quarantine = guard.protect_quarantine(quarantine) if guard is not None else quarantine
        counts = OrphanCounts(int(anyref.sum()), int(gone.sum()), warnings)
        return _Split(~gone, counts, quarantine)

    def write(self, frame: pa.Table, position: LakePosition) -> CommitResult:
        """Commit the batch's changes but its quarantined orphans, and their quarantine entries, as one batch."""
        self.counts = OrphanCounts()
        probe = Batch(source_name(position.slot), position.range)
        split = self._split(frame, probe)
        batch = Batch(probe.source, probe.position, rows_read=frame.num_rows, rows_quarantined=split.counts.quarantined)
        run_dir = self.staging_root / self.run_id
        staging_runs.claim_run(run_dir)
        staged = staging.batch_dir(run_dir, 0, batch.id)
        staging.reset(staged)
        contract = self.target_contract
        try:
            kept = frame.filter(pa.array(split.keep))
            staging.write_valid(staged, self._protected(self._rows(kept, batch)), 0)
            if split.quarantine is not None:
                staging.write_quarantine(staged, split.quarantine, 0)
            staging.mark_complete(staged)
            target = CommitTarget(
                contract.name,
                contract,
                self.run_id,
                run_dir,
                self.uri,
                self.quarantine_uri,
                self.storage_options,
            )
            meta: dict[str, object] = {"run_id": self.run_id, **position.metadata()}
            with self._lease(contract.name) as held:
                outcome = commit_batches(target, [batch], metadata=meta, lease=held)
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)
        self.last, self.counts = outcome, split.counts
        return outcome.lake

    def _lease(self, dataset: str) -> contextlib.AbstractContextManager[HeldLease | None]:
        if self.engine is None:
            return contextlib.nullcontext()
        return hold_lease(
            self.engine,
            dataset,
            holder_name(self.run_id),
            ttl_s=self.lease_ttl_s,
            wait_s=self.lease_wait_s,
        )


@dataclass
class CheckedChangesTable(CheckedSink, ChangesTable):
    """:class:`ChangesTable` with the source contract's references checked."""


@dataclass
class CheckedKeyedTable(CheckedSink, KeyedTable):
    """:class:`KeyedTable` with the contract's references checked."""


def checked(sink: ChangesTable | KeyedTable) -> CheckedChangesTable | CheckedKeyedTable:
    """``sink`` with its contract's references checked (the same settings)."""
    kind = CheckedKeyedTable if isinstance(sink, KeyedTable) else CheckedChangesTable
    return kind(
        sink.contract,
        sink.lake_root,
        sink.staging_root,
        sink.quarantine_uri,
        run_id=sink.run_id,
        engine=sink.engine,
        lease_ttl_s=sink.lease_ttl_s,
        lease_wait_s=sink.lease_wait_s,
        storage_options=sink.storage_options,
    )
