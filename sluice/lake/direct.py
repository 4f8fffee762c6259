"""A frame of validated rows committed from memory: the commit protocol without the staging round trip.

A stream batch is a micro-batch, in memory once it is validated.
:func:`commit_rows` commits it by the protocol of :mod:`sluice.lake.commit`
with its guarantees (under the caller's lease, as the version after the one
it read and no other, the batch id recorded as an application transaction, a
batch the table records already skipped, the quarantine first, each version
its manifest), as :func:`sluice.lake.frames.commit_frame` does, but the valid
rows are deduplicated on the key in memory and written straight into the
table folder, not staged and read back. Rows of dates the table holds go
through the same anti-join against the lake's keys. Quarantine entries, rare,
are staged for the shared quarantine's commit. Keyed tables (upsert, scd2)
take :func:`commit_frame`.

:class:`OpenTable` keeps one Delta table open across a consumer's batches
and brings it up to date incrementally (reading only the log entries added
since), where opening it reads the log since its last checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError

from sluice.lake import staging, staging_runs
from sluice.lake.commit import Batch, CommitOutcome, CommitPlan, CommitTarget, Fence, Planner, commit_planned
from sluice.lake.frames import commit_frame
from sluice.lake.key_index import LakeKeys
from sluice.lake.table import (
    DayWriters,
    DedupedBucket,
    KeySource,
    keep_first,
    lake_filesystem,
    lake_schema,
    open_table,
    parts_by_day,
)
from sluice.lake.write import evolve_schema
from sluice.validate.chunk import PARTITION

BUCKET = "rows"  # the name of a frame's one bucket (it tags the data files it writes)


class OpenTable:
    """The Delta table at ``uri``, opened once and brought up to date on each :meth:`current`."""

    def __init__(self, uri: str, storage_options: dict[str, str] | None = None) -> None:
        self.uri, self.storage_options = uri, storage_options
        self._table: DeltaTable | None = None
        self.keys = LakeKeys(uri, storage_options)  # the keys on the dates its commits anti-join against

    def current(self, *, refresh: bool = True) -> DeltaTable | None:
        """The table at its newest version (``None``: there is no table yet).

        ``refresh=False``: as the last call left it (a caller that refreshed it under the lease moments ago).

        Raises:
            LakeError: the table cannot be read.
        """
        if self._table is not None and not refresh:
            return self._table
        if self._table is not None:
            try:
                self._table.update_incremental()
                return self._table
            except (DeltaError, OSError):
                self._table = None  # opened afresh below: a table removed and created again, a log rewritten
        self._table = open_table(self.uri, self.storage_options)
        return self._table


def frame_bucket(
    target: CommitTarget, valid: pa.Table, keep: np.ndarray, old_days: set[str], lake_keys: KeySource | None = None
) -> DedupedBucket:
    """The rows of ``valid`` where ``keep``: dates the table lacks written into its folder, the others held.

    ``lake_keys``: where the commit finds the keys the table holds on the held rows' dates.
    """
    schema = lake_schema(target.contract)
    fs, root = lake_filesystem(target.lake_uri, target.storage_options)
    writers = DayWriters(fs, root, schema.remove(schema.get_field_index(PARTITION)), BUCKET)
    old: dict[str, pa.Table] = {}
    for day, part in parts_by_day(valid, keep, schema) if valid.num_rows else ():
        if day in old_days:
            old[day] = part
        else:
            writers.write(day, part.drop_columns([PARTITION]))
    rows = pa.concat_tables(list(old.values())) if old else None
    held = rows.num_rows if rows is not None else 0
    return DedupedBucket(BUCKET, writers.close(), Path(), held, int((~keep).sum()), sorted(old), rows, lake_keys)


def _planner(
    target: CommitTarget, batch: Batch, table: OpenTable, quarantined: dict[str, list[staging.StagePath]]
) -> Planner:
    """Each attempt's plan at the table's newest version: the batch, unless that version records it."""

    def plan(attempt: int) -> tuple[CommitPlan, DeltaTable | None]:
        current = table.current(refresh=attempt > 1)  # the first as the caller read it; retries after a conflict
        done = current is not None and current.transaction_version(batch.id) is not None
        days = {p[PARTITION] for p in current.partitions()} if current is not None else set()
        found = CommitPlan(
            version=current.version() if current is not None else None,
            batch_ids=[] if done else [batch.id],
            skipped=[batch.id] if done else [],
            quarantine_files={} if done else quarantined,
            buckets={BUCKET: []},
            old_days=days,
            work_dir=target.staging_dir / "_deduped" / f"attempt-{attempt}",
            attempt=attempt,
        )
        return found, current

    return plan


def _stage_quarantine(
    target: CommitTarget, batch: Batch, quarantine: pa.Table | None
) -> dict[str, list[staging.StagePath]]:
    if quarantine is None or not quarantine.num_rows:
        return {}
    staging_runs.claim_run(target.staging_dir)
    staged = staging.batch_dir(target.staging_dir, 0, batch.id)
    staging.reset(staged)
    staging.write_quarantine(staged, quarantine, 0)
    return {batch.id: staging.quarantine_files([staged])}


def _evolve(target: CommitTarget, table: OpenTable) -> list[str]:
    """Schema evolution on the open table; it is read again when columns were added."""
    schema = lake_schema(target.contract)
    added = evolve_schema(target.lake_uri, schema, target.storage_options, table=table.current(refresh=False))
    if added:
        table.current()
    return added


def commit_rows(
    target: CommitTarget,
    batch: Batch,
    valid: pa.Table,
    quarantine: pa.Table | None,
    *,
    metadata: dict[str, object],
    table: OpenTable,
    lease: Fence | None = None,
) -> CommitOutcome:
    """Commit ``valid`` (lake rows, with partition and provenance columns) and ``quarantine`` as ``batch``.

    ``table`` is the target's table kept open; the first attempt plans at the version the caller's last
    :meth:`OpenTable.current` read (under the lease), a retry at the newest. See the module doc.

    Raises:
        LakeConflictError, LeaseLostError: as :func:`sluice.lake.commit.commit_batches`; nothing is committed.
    """
    if target.contract.keyed:
        return commit_frame(target, batch, valid, quarantine, metadata=metadata, lease=lease)
    keys = [*target.contract.primary_key, PARTITION]
    keep = keep_first(valid, keys)[0] if valid.num_rows else np.zeros(0, dtype=bool)
    try:
        return commit_planned(
            target,
            [batch],
            _planner(target, batch, table, _stage_quarantine(target, batch, quarantine)),
            metadata=metadata,
            lease=lease,
            dedup=lambda plan: [frame_bucket(target, valid, keep, plan.old_days, table.keys)],
            evolve=lambda: _evolve(target, table),
        )
    finally:
        staging.remove_tree(target.staging_dir)
