"""Apply a run's rows to a keyed lake table (``mode: upsert`` or ``scd2``) in one commit at version V+1.

:func:`apply_batches` is the entry point every source uses, directly or
through :func:`sluice.lake.commit.commit_batches`. Its input is one Arrow
table in the lake schema (:func:`sluice.lake.table.lake_schema`; columns it
lacks are read as nulls):

- the contract's columns, including its ``order_by`` column (``updated_at``,
  or for CDC an ``_lsn`` column declared ``int64``) and, for a contract that
  takes deletes, ``_op`` (``i``, ``u`` or ``d``; ``d`` deletes the key);
- ``dt`` (the partition date), ``_batch_id`` (the batch's id, the second
  tie-breaker) and ``_source_row`` (the row's position in its batch, the
  third), as :func:`sluice.validate.chunk.validate_chunk` stamps them, or
  :func:`lake_rows` for frames that did not go through it;
- for change rows (:mod:`sluice.lake.changes`): ``_op`` ``t`` (TRUNCATE) and
  ``_unchanged`` (columns an update did not send).

How versions are chosen and counted: :mod:`sluice.lake.resolve`.

The table is rewritten file by file: a keys-only scan of the table at V finds
the files holding any incoming key; those are read whole, resolved with the
incoming rows, and every one that holds a changed key is replaced (remove
action) by files of its unchanged rows plus the keys' new rows. Added and
removed files and the batch ids go into one Delta transaction committed as
V+1 only (``max_commit_retries=0``): another writer in between makes it fail
with :class:`~sluice.errors.LakeConflictError`, nothing of it visible, and
the caller re-plans. A run holding a TRUNCATE reads and resolves every file
(it deletes every key present before it). Keys are matched across all dates, so a key whose
partition date changes moves to its new date: the table stays partitioned by
``dt`` for readers, and every run pays one scan of the key columns.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
from deltalake import CommitProperties, DeltaTable, Transaction
from deltalake.exceptions import CommitFailedError, DeltaError
from deltalake.transaction import AddAction, RemoveAction

from sluice.errors import LakeError
from sluice.lake.changes import TRUNCATE_OP, ops
from sluice.lake.resolve import Resolution, aligned, contains_keys, resolve
from sluice.lake.table import CommitResult, DayWriters, NewFile, lake_filesystem, lake_schema
from sluice.lake.write import add_actions, commit_metadata, conflict_error, discard, table_at
from sluice.validate.chunk import BATCH_COL, PARTITION, ROW_COL
from sluice.validate.contracts import Contract


@dataclass(frozen=True)
class ApplyResult:
    """What one apply committed (``version``; ``None`` if nothing was committed) and what each row did."""

    version: int | None
    inserted: int
    updated: int
    deleted: int
    unchanged: int
    superseded: int
    files_added: int
    files_removed: int
    partitions: int
    skipped: tuple[str, ...] = ()  # batch ids the table already recorded: their rows were left out

    def as_commit_result(self) -> CommitResult:
        return CommitResult(
            rows_written=self.inserted,
            duplicates_in_run=self.superseded,
            duplicates_in_lake=0,
            version=self.version,
            partitions=self.partitions,
            rows_updated=self.updated,
            rows_deleted=self.deleted,
            rows_unchanged=self.unchanged,
        )


@dataclass(frozen=True)
class _LakeFile:
    path: str
    size: int
    day: str


def lake_rows(frame: pa.Table, contract: Contract, batch: str) -> pa.Table:
    """A source frame (the contract's columns, ``_op``, ``_lsn``...) with ``dt``, ``_batch_id`` and ``_source_row``."""
    part = frame.column(contract.partition.column)
    days = part.cast(pa.date32()) if not pa.types.is_date32(part.type) else part
    n = frame.num_rows
    out = frame.append_column(PARTITION, days).append_column(BATCH_COL, pa.array([batch] * n, pa.string()))
    return out.append_column(ROW_COL, pa.array(np.arange(n, dtype=np.int64)))


def _files(table: DeltaTable) -> list[_LakeFile]:
    actions = pa.table(table.get_add_actions(flatten=True))
    days = actions.column(f"partition.{PARTITION}").to_pylist() if actions.num_rows else []
    return [
        _LakeFile(p, int(s), str(d))
        for p, s, d in zip(
            actions.column("path").to_pylist(), actions.column("size_bytes").to_pylist(), days, strict=True
        )
    ]


def _read(fs: pafs.FileSystem, root: str, file: _LakeFile, schema: pa.Schema, columns: list[str]) -> pa.Table:
    """Some columns of one data file, typed by ``schema`` (columns the file predates as nulls), with its date."""
    data_schema = pa.schema([schema.field(c) for c in columns if c != PARTITION])
    found = ds.dataset(f"{root}/{file.path}", format="parquet", filesystem=fs, schema=data_schema).to_table()
    day = pa.array([file.day] * found.num_rows, pa.string()).cast(pa.date32())
    return aligned(found.append_column(PARTITION, day), pa.schema([schema.field(c) for c in columns]))


def _holding(rows: pa.Table, keys: pa.Table, names: list[str]) -> bool:
    hits: int = rows.select(names).join(keys, keys=names, join_type="left semi", use_threads=False).num_rows
    return hits > 0


def _candidates(
    table: DeltaTable, incoming: pa.Table, contract: Contract, schema: pa.Schema, fs: pafs.FileSystem, root: str
) -> dict[str, tuple[_LakeFile, pa.Table]]:
    """The table's files holding any incoming key, read whole (a keys-only scan finds them); all with a TRUNCATE."""
    keys = contract.primary_key
    wanted = incoming.select(keys).cast(pa.schema([schema.field(k) for k in keys]))
    every = bool(ops(incoming, TRUNCATE_OP).any())
    found: dict[str, tuple[_LakeFile, pa.Table]] = {}
    for file in _files(table):
        if every or _holding(_read(fs, root, file, schema, keys), wanted, keys):
            found[file.path] = (file, _read(fs, root, file, schema, schema.names))
    return found


def _rewrite(
    found: dict[str, tuple[_LakeFile, pa.Table]],
    resolution: Resolution,
    keys: list[str],
    writers: DayWriters,
) -> list[_LakeFile]:
    """Write the kept rows of every file holding a changed key, and the changed keys' rows; the files to remove."""
    removed = []
    for file, rows in found.values():
        hit = contains_keys(rows, resolution.changed, keys)
        if hit.any():
            removed.append(file)
            _write_by_day(writers, rows.filter(pa.array(~hit)))
    _write_by_day(writers, resolution.rows)
    return removed


def _write_by_day(writers: DayWriters, rows: pa.Table) -> None:
    if rows.num_rows == 0:
        return
    days = rows.column(PARTITION).combine_chunks()
    for day in days.unique().to_pylist():
        part = rows.filter(pc.equal(days, pa.scalar(day, pa.date32())))
        writers.write(str(day), part.drop_columns([PARTITION]))


def _remove_actions(files: list[_LakeFile]) -> list[AddAction | RemoveAction]:
    now = int(time.time() * 1000)
    return [RemoveAction(f.path, True, now, f.size, {PARTITION: f.day}) for f in files]


def apply_batches(
    uri: str,
    contract: Contract,
    rows: pa.Table,
    *,
    batch_ids: list[str],
    version: int | None,
    metadata: dict[str, Any],
    storage_options: dict[str, str] | None = None,
) -> ApplyResult:
    """Apply ``rows`` (see the module doc for their columns) to the keyed table at ``uri`` as version ``version + 1``.

    ``version`` is the table version the caller planned at (``None``: no
    table yet); ``batch_ids`` are recorded in the same commit. Rows of
    batches the table at ``version`` already records are left out (replaying
    a batch changes nothing); with none left, nothing is committed and the
    result's ``version`` is ``version``. A run that changes no row still
    records its batch ids (one version without data).

    Raises:
        LakeConflictError: another writer committed after ``version``; nothing of this is visible.
        LakeError: the table cannot be read or written.
    """
    if not contract.keyed:
        raise LakeError(f"{contract.name} is an append table", hint="append tables commit through commit_batches")
    schema = lake_schema(contract)
    table = table_at(uri, version, schema, storage_options)
    done = tuple(b for b in batch_ids if table.transaction_version(b) is not None)
    if done:
        rows = rows.filter(pc.invert(pc.is_in(rows.column(BATCH_COL), pa.array(done, pa.string()))))
        batch_ids = [b for b in batch_ids if b not in done]
        if not batch_ids:
            return ApplyResult(table.version(), 0, 0, 0, 0, 0, 0, 0, 0, done)
    fs, root = lake_filesystem(uri, storage_options)
    writers = DayWriters(fs, root, schema.remove(schema.get_field_index(PARTITION)), "apply")
    written: list[NewFile] = []
    try:
        found = _candidates(table, rows, contract, schema, fs, root)
        current = pa.concat_tables([t for _, t in found.values()]) if found else schema.empty_table()
        resolution = resolve(contract, current, rows, schema)
        removed = _rewrite(found, resolution, contract.primary_key, writers)
        written = writers.close()
        props = CommitProperties(
            custom_metadata=commit_metadata({**metadata, "mode": contract.mode.value}),
            max_commit_retries=0,
            app_transactions=[Transaction(b, 1) for b in batch_ids],
        )
        table.create_write_transaction(
            [*add_actions(written), *_remove_actions(removed)],
            mode="append",
            schema=schema,
            partition_by=[PARTITION],
            commit_properties=props,
        )
    except CommitFailedError:
        discard(uri, [f.path for f in written], storage_options)
        raise conflict_error(uri) from None
    except (DeltaError, OSError, pa.ArrowException) as exc:
        raise LakeError(
            f"apply to {uri} failed: {exc}",
            hint="rerun: a batch this commit recorded is skipped, any other is applied again; "
            "`ops lake vacuum` removes files no commit references",
        ) from None
    days = {f.day for f in written} | {f.day for f in removed}
    return ApplyResult(
        table.version() + 1,
        resolution.inserted,
        resolution.updated,
        resolution.deleted,
        resolution.unchanged,
        resolution.superseded,
        len(written),
        len(removed),
        len(days),
        done,
    )
