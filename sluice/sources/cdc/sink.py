"""Where a batch of captured changes goes: today an append table ``<dataset>_changes``.

:class:`ChangeSink` is what the capture needs of the lake: the LSN it holds
for a slot, and a write that commits a frame of changes together with its
position, atomically. :class:`ChangesTable` writes every change as a row of
``<dataset>_changes`` through the commit protocol (:mod:`sluice.lake.commit`):
the batch is the slot and the LSN range of its transactions, the commit
metadata records the range, and the table's key ``(_lsn, _op)`` makes a
change that is read twice land once. :func:`make_sink` is the one place that
chooses the sink: the apply modes (upsert, scd2) plug in there.
"""

from __future__ import annotations

import contextlib
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.engine import Engine

from sluice.errors import ContractError
from sluice.lake import staging
from sluice.lake.commit import Batch, CommitOutcome, CommitTarget, commit_batches
from sluice.lake.lease import hold_lease, holder_name
from sluice.lake.table import table_uri
from sluice.sources.cdc.decode import CHANGE_COLUMNS
from sluice.sources.cdc.positions import LakePosition, lake_lsn
from sluice.validate.chunk import BATCH_COL, PARTITION, ROW_COL, WARNINGS_COL
from sluice.validate.contracts import ColumnSpec, ColumnType, Contract, PartitionSpec

CHANGES_SUFFIX = "_changes"
_CHANGE_SPECS = [
    ColumnSpec(name="_op", type=ColumnType.STRING, allowed_values=["i", "u", "d", "t"]),
    ColumnSpec(name="_lsn", type=ColumnType.INT64),
    ColumnSpec(name="_xid", type=ColumnType.INT64),
    ColumnSpec(name="_commit_lsn", type=ColumnType.INT64),
    ColumnSpec(name="_commit_ts", type=ColumnType.TIMESTAMP),
    ColumnSpec(name="_unchanged", type=ColumnType.STRING, nullable=True),
    ColumnSpec(name="_extra", type=ColumnType.STRING, nullable=True),
]


def source_name(slot: str) -> str:
    """The batch source of a slot's changes (with the LSN range, it makes the batch id)."""
    return f"postgres-cdc:{slot}"


def changes_contract(contract: Contract) -> Contract:
    """The contract of ``<dataset>_changes``: every column nullable, the change columns, key ``(_lsn, _op)``.

    Raises:
        ContractError: a column of ``contract`` has the name of a change or lake column.
    """
    reserved = {*CHANGE_COLUMNS, PARTITION, BATCH_COL, ROW_COL, WARNINGS_COL}
    clash = sorted(reserved & set(contract.column_names))
    if clash:
        raise ContractError(
            f"contract {contract.name} has column(s) {', '.join(clash)}, which change capture adds itself",
            hint="rename them in the contract (and map them from the table's columns)",
        )
    columns = [c.model_copy(update={"nullable": True}) for c in contract.columns]
    return Contract(
        name=f"{contract.name}{CHANGES_SUFFIX}",
        description=f"Every captured change of {contract.name}, one row each.",
        owner=contract.owner,
        freshness_sla=contract.freshness_sla,
        source_timezone=contract.source_timezone,
        primary_key=["_lsn", "_op"],
        partition=PartitionSpec(column="_commit_ts"),
        columns=[*columns, *_CHANGE_SPECS],
        tags=[*contract.tags, "cdc"],
    )


class ChangeSink(Protocol):
    """What the capture needs of the lake."""

    def position(self, slot: str) -> int | None:
        """The highest commit LSN of ``slot`` the lake holds (``None``: none)."""
        ...

    def write(self, frame: pa.Table, position: LakePosition) -> int:
        """Commit ``frame`` (a frame of changes, :mod:`sluice.sources.cdc.decode`) with ``position``; rows written."""
        ...


@dataclass
class ChangesTable:
    """Appends change rows to ``<dataset>_changes`` through the commit protocol, under the dataset's lease."""

    contract: Contract  # the source dataset's contract
    lake_root: str
    staging_root: Path
    quarantine_uri: str
    run_id: str = field(default_factory=lambda: f"cdc-{uuid.uuid4().hex[:12]}")
    engine: Engine | None = None  # the metadata store holding the leases; None: no lease
    lease_ttl_s: float = 60.0
    lease_wait_s: float = 600.0
    storage_options: dict[str, str] = field(default_factory=dict)
    last: CommitOutcome | None = None

    def __post_init__(self) -> None:
        self.changes = changes_contract(self.contract)
        self.uri = table_uri(self.lake_root, self.changes.name)

    def position(self, slot: str) -> int | None:
        return lake_lsn(self.uri, slot, self.storage_options)

    def _staged(self, frame: pa.Table, batch: Batch) -> pa.Table:
        n = frame.num_rows
        return (
            frame.append_column(PARTITION, pc.cast(frame.column("_commit_ts"), pa.date32()))
            .append_column(BATCH_COL, pa.repeat(pa.scalar(batch.id), n))
            .append_column(ROW_COL, pa.array(range(n), pa.int64()))
            .append_column(WARNINGS_COL, pa.nulls(n, pa.string()))
        )

    def write(self, frame: pa.Table, position: LakePosition) -> int:
        batch = Batch(source_name(position.slot), position.range, rows_read=frame.num_rows)
        run_dir = self.staging_root / self.run_id
        staging.claim_run(run_dir)
        staged = staging.batch_dir(run_dir, 0, batch.id)
        staging.reset(staged)
        try:
            staging.write_valid(staged, self._staged(frame, batch), 0)
            staging.mark_complete(staged)
            target = CommitTarget(
                self.changes.name,
                self.changes,
                self.run_id,
                run_dir,
                self.uri,
                self.quarantine_uri,
                self.storage_options,
            )
            meta: dict[str, object] = {"run_id": self.run_id, **position.metadata()}
            lease = (
                hold_lease(
                    self.engine,
                    self.changes.name,
                    holder_name(self.run_id),
                    ttl_s=self.lease_ttl_s,
                    wait_s=self.lease_wait_s,
                )
                if self.engine is not None
                else contextlib.nullcontext()
            )
            with lease as held:
                self.last = commit_batches(target, [batch], metadata=meta, lease=held)
            return self.last.lake.rows_written
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)


def make_sink(
    contract: Contract,
    *,
    lake_root: str,
    staging_root: Path,
    quarantine_uri: str,
    engine: Engine | None,
    storage_options: dict[str, str] | None = None,
) -> ChangeSink:
    """The sink captured changes of ``contract``'s dataset go to.

    Today every change is appended to ``<dataset>_changes``. When the lake's
    apply modes land, this returns a sink whose ``write`` calls the apply
    (frames carry ``_op``/``_lsn``) and whose ``position`` reads the LSN the
    applied table records.
    """
    return ChangesTable(
        contract,
        lake_root,
        staging_root,
        quarantine_uri,
        engine=engine,
        storage_options=dict(storage_options or {}),
    )
