"""Where a batch of captured changes goes: ``<dataset>_changes`` (append contracts) or the keyed table itself.

:class:`ChangeSink` is what the capture needs of the lake: the LSN it holds
for a slot, and a write that commits a frame of changes together with its
position, atomically. Both sinks stage the frame and commit it through the
commit protocol (:mod:`sluice.lake.commit`) under the dataset's lease: the
batch is the slot and the LSN range of its transactions, its id and the
range are recorded in the same commit as the rows, so a batch read twice
changes nothing the second time.

Columns the contract protects (``protect: token`` or ``encrypt``) are
protected before the frame is staged, as a file or table ingestion protects
them (:mod:`sluice.governance.protect`); ``<dataset>_changes`` has its own
data key, its values bound to that table.

- :class:`ChangesTable` (``mode: append``): every change is a row of
  ``<dataset>_changes``, whose key ``(_lsn, _op)`` makes a change land once.
- :class:`KeyedTable` (``mode: upsert`` or ``scd2``): the changes are applied
  to ``<dataset>`` by key (:mod:`sluice.lake.apply`): ``i``/``u`` write a
  version, ``d`` deletes (hard or tombstone, as the contract says), ``t``
  deletes every key present before it, columns an update did not send keep
  their stored value, a key change is a ``d`` and a ``u`` at one LSN.

A keyed contract declares ``_op`` (string) and orders by ``_lsn`` (declared
``int64``: every version's WAL position, exact) or by a timestamp or date
column such as ``updated_at``; then a delete or truncate, which carries no
such value, takes its transaction's commit time. :func:`make_sink` chooses
the sink and refuses a keyed contract that cannot take changes.

**Snapshot, then changes.** ``ingest-table`` fills the same keyed table
(:mod:`sluice.sources.database_stage`); with ``order_by: _lsn`` each
snapshot or incremental row takes the WAL position of its read's snapshot,
taken while no transaction writes the table, so every change the snapshot
holds has a smaller ``_lsn`` and every change it misses a greater one. The
slot must exist before the snapshot (create it first: ``capture-changes``
with ``create_slot``, or ``pg_create_logical_replication_slot``): the
capture then replays changes from before the snapshot, which the apply
counts as unchanged, and applies the rest. Ordered by ``updated_at``, a
change and a read of the same version carry the same value and land once.
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
from sluice.governance.protect import protector_for
from sluice.lake import staging, staging_runs
from sluice.lake.commit import Batch, CommitOutcome, CommitTarget, commit_batches
from sluice.lake.lease import hold_lease, holder_name
from sluice.lake.table import CommitResult, table_uri
from sluice.sources.cdc.decode import CHANGE_COLUMNS
from sluice.sources.cdc.positions import LakePosition, lake_lsn
from sluice.validate.chunk import BATCH_COL, PARTITION, ROW_COL, WARNINGS_COL
from sluice.validate.contracts import OP_COLUMN, ColumnSpec, ColumnType, Contract, PartitionSpec

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


SOURCE_PREFIX = "postgres-cdc:"


def source_name(slot: str) -> str:
    """The batch source of a slot's changes (with the LSN range, it makes the batch id)."""
    return f"{SOURCE_PREFIX}{slot}"


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


def target_table(contract: Contract) -> str:
    """The lake table a capture of ``contract``'s dataset commits to: the keyed table, or ``<dataset>_changes``."""
    return contract.name if contract.keyed else f"{contract.name}{CHANGES_SUFFIX}"


class ChangeSink(Protocol):
    """What the capture needs of the lake."""

    def position(self, slot: str) -> int | None:
        """The highest commit LSN of ``slot`` the lake holds (``None``: none)."""
        ...

    def write(self, frame: pa.Table, position: LakePosition) -> CommitResult:
        """Commit ``frame`` (a frame of changes, :mod:`sluice.sources.cdc.decode`) with ``position``."""
        ...


def _stamped(rows: pa.Table, days: pa.Array | pa.ChunkedArray, batch: Batch) -> pa.Table:
    n = rows.num_rows
    return (
        rows.append_column(PARTITION, days)
        .append_column(BATCH_COL, pa.repeat(pa.scalar(batch.id), n))
        .append_column(ROW_COL, pa.array(range(n), pa.int64()))
        .append_column(WARNINGS_COL, pa.nulls(n, pa.string()))
    )


@dataclass
class _LakeSink:
    """Stages a frame as one batch and commits it to ``uri`` under ``contract``, under the dataset's lease."""

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

    @property
    def target_contract(self) -> Contract:
        return self.contract

    @property
    def uri(self) -> str:
        return table_uri(self.lake_root, self.target_contract.name)

    def position(self, slot: str) -> int | None:
        return lake_lsn(self.uri, slot, self.storage_options)

    def _rows(self, frame: pa.Table, batch: Batch) -> pa.Table:
        raise NotImplementedError

    def _protected(self, rows: pa.Table) -> pa.Table:
        """``rows`` with the columns the contract protects tokenised or encrypted, bound to the target table."""
        guard = protector_for(self.target_contract)
        return rows if guard is None else guard.protect_valid(rows)

    def write(self, frame: pa.Table, position: LakePosition) -> CommitResult:
        batch = Batch(source_name(position.slot), position.range, rows_read=frame.num_rows)
        run_dir = self.staging_root / self.run_id
        staging_runs.claim_run(run_dir)
        staged = staging.batch_dir(run_dir, 0, batch.id)
        staging.reset(staged)
        contract = self.target_contract
        try:
            staging.write_valid(staged, self._protected(self._rows(frame, batch)), 0)
            staging.mark_complete(staged)
            target = CommitTarget(
                contract.name, contract, self.run_id, run_dir, self.uri, self.quarantine_uri, self.storage_options
            )
            meta: dict[str, object] = {"run_id": self.run_id, **position.metadata()}
            lease = (
                hold_lease(
                    self.engine,
                    contract.name,
                    holder_name(self.run_id),
                    ttl_s=self.lease_ttl_s,
                    wait_s=self.lease_wait_s,
                )
                if self.engine is not None
                else contextlib.nullcontext()
            )
            with lease as held:
                self.last = commit_batches(target, [batch], metadata=meta, lease=held)
            return self.last.lake
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)


@dataclass
class ChangesTable(_LakeSink):
    """Appends change rows to ``<dataset>_changes``."""

    def __post_init__(self) -> None:
        self.changes = changes_contract(self.contract)

    @property
    def target_contract(self) -> Contract:
        return self.changes

    def _rows(self, frame: pa.Table, batch: Batch) -> pa.Table:
        return _stamped(frame, pc.cast(frame.column("_commit_ts"), pa.date32()), batch)


def ensure_keyed_contract(contract: Contract) -> None:
    """Refuse a keyed contract changes cannot be applied to: no ``_op``, or an order no delete can carry.

    Raises:
        ContractError: what to change in the contract.
    """
    problems = []
    if OP_COLUMN not in contract.column_names or contract.column(OP_COLUMN).type is not ColumnType.STRING:
        problems.append("it must declare _op (string, nullable): captured deletes are marked there")
    for name in set(contract.column_names) & set(CHANGE_COLUMNS):
        declared, wanted = contract.column(name).type, _CHANGE_TYPES[name]
        if declared is not wanted:
            problems.append(f"{name} is filled by the capture as {wanted.value}, not {declared.value}")
    order = contract.column(contract.order_by) if contract.order_by else None
    if order is not None and order.name not in CHANGE_COLUMNS and order.type is ColumnType.INT64:
        problems.append(
            f"order_by {order.name} is an integer column a delete does not carry: order by _lsn "
            "or a timestamp or date column"
        )
    if problems:
        raise ContractError(
            f"changes cannot be applied to {contract.name}: {'; '.join(problems)}",
            hint="see docs/sources/postgres-cdc.md, keyed tables",
        )


_CHANGE_TYPES = {s.name: s.type for s in _CHANGE_SPECS}


@dataclass
class KeyedTable(_LakeSink):
    """Applies changes to the dataset's keyed table (upsert or scd2) by key."""

    def __post_init__(self) -> None:
        ensure_keyed_contract(self.contract)

    def _rows(self, frame: pa.Table, batch: Batch) -> pa.Table:
        committed = frame.column("_commit_ts")
        order = self.contract.order_by or ""
        rows = frame
        if order not in CHANGE_COLUMNS:  # a delete or truncate carries no order value: its commit time
            field_type = frame.schema.field(order).type
            filled = pc.coalesce(frame.column(order), pc.cast(committed, field_type))
            rows = rows.set_column(rows.schema.get_field_index(order), order, filled)
        part = frame.column(self.contract.partition.column)
        days = pc.coalesce(pc.cast(part, pa.date32()), pc.cast(committed, pa.date32()))
        return _stamped(rows, days, batch)


def make_sink(
    contract: Contract,
    *,
    lake_root: str,
    staging_root: Path,
    quarantine_uri: str,
    engine: Engine | None,
    storage_options: dict[str, str] | None = None,
    run_id: str | None = None,
) -> ChangeSink:
    """The sink captured changes of ``contract``'s dataset go to: the keyed table, or ``<dataset>_changes``.

    Raises:
        ContractError: a keyed contract changes cannot be applied to (:func:`ensure_keyed_contract`).
    """
    kind = KeyedTable if contract.keyed else ChangesTable
    named = {"run_id": run_id} if run_id else {}
    return kind(
        contract,
        lake_root,
        staging_root,
        quarantine_uri,
        engine=engine,
        storage_options=dict(storage_options or {}),
        **named,  # type: ignore[arg-type]
    )
