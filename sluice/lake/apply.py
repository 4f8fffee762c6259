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

The table is rewritten file by file, and the run is resolved one group of
key buckets at a time (:mod:`sluice.lake.groups`), so memory holds one
group's rows, within ``group_bytes``, however large the run and the table:

1. the run's rows are read once and split by the hash of their key into
   buckets (in memory while they fit, then in Arrow IPC files of a work
   folder); a TRUNCATE goes to every group, and the two keys of a key change
   (a ``d`` and a ``u`` at one ``_lsn``) are put in one group;
2. a keys-only scan of the table at V, matched bucket group by bucket group
   against the run's keys, finds the files holding any incoming key (every
   file, with a TRUNCATE in the run);
3. those files are read once, their rows split into the same buckets;
4. each group (whole buckets, packed up to the budget) resolves its incoming
   rows with the table's rows of the same keys (:mod:`sluice.lake.resolve`):
   the changed keys' new rows are written, and the other rows read are kept
   aside with the file they came from;
5. every file holding a changed key is replaced (remove action) by files of
   its unchanged rows (written from what step 4 kept aside) plus the keys'
   new rows.

Added and removed files of every group and the batch ids go into one Delta
transaction committed as V+1 only (``max_commit_retries=0``): another writer
in between makes it fail with :class:`~sluice.errors.LakeConflictError`,
nothing of it visible, and the caller re-plans. Keys are matched across all
dates, so a key whose partition date changes moves to its new date: the table
stays partitioned by ``dt`` for readers, and every run pays one scan of the
key columns.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
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
from sluice.lake.groups import Incoming, Spill, collect, input_schema, key_buckets, pack
from sluice.lake.resolve import Resolution, aligned, contains_keys, resolve
from sluice.lake.table import CommitResult, DayWriters, NewFile, lake_filesystem, lake_schema
from sluice.lake.write import add_actions, commit_metadata, conflict_error, discard, table_at
from sluice.validate.chunk import BATCH_COL, PARTITION, ROW_COL
from sluice.validate.contracts import Contract

# Rows resolved at once are held within this many bytes of Arrow data (more
# only when one key bucket alone is larger: :mod:`sluice.lake.groups`); the
# rest wait in Arrow IPC files of the apply's work folder.
GROUP_BYTES = 256 * 2**20
_SCAN_ROWS = 256 * 1024  # rows per record batch when a table file is read
_FILE = "__file"  # which file (index) a row of the table was read from


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
    groups: int = 0  # bucket groups resolved one after another (memory holds one at a time)

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


def _batches(
    fs: pafs.FileSystem, root: str, file: _LakeFile, schema: pa.Schema, columns: list[str]
) -> Iterator[pa.Table]:
    """Some columns of one data file, a batch at a time, typed by ``schema`` (columns it predates as nulls)."""
    data_schema = pa.schema([schema.field(c) for c in columns if c != PARTITION])
    wanted = pa.schema([schema.field(c) for c in columns])
    found = ds.dataset(f"{root}/{file.path}", format="parquet", filesystem=fs, schema=data_schema)
    for batch in found.to_batches(batch_size=_SCAN_ROWS):
        day = pa.array([file.day] * batch.num_rows, pa.string()).cast(pa.date32())
        yield aligned(pa.Table.from_batches([batch]).append_column(PARTITION, day), wanted)


def _candidates(
    files: list[_LakeFile], incoming: Incoming, keys: list[str], schema: pa.Schema, io: _Io
) -> list[_LakeFile]:
    """The files holding any incoming key (a keys-only scan, matched bucket group by bucket group); all with a
    TRUNCATE."""
    if incoming.truncates.num_rows:
        return files
    scan = io.spill(pa.schema([*[schema.field(k) for k in keys], pa.field(_FILE, pa.int32())]), "keys")
    wanted = incoming.spill.rows > 0
    for i, file in enumerate(files):
        for part in _batches(io.fs, io.root, file, schema, keys):
            bucket = key_buckets(part, keys)
            mine = wanted[bucket]
            tagged = part.append_column(_FILE, pa.array(np.full(part.num_rows, i, dtype=np.int32)))
            scan.add(tagged.filter(pa.array(mine)), bucket[mine])
    found: set[int] = set()
    for group in pack(scan.sizes + incoming.spill.sizes, io.budget):
        held = scan.read(group)
        if held.num_rows:
            run = incoming.spill.read(group).select(keys)
            hit = held.join(run, keys=keys, join_type="left semi", use_threads=False)
            found.update(pc.unique(hit.column(_FILE)).to_pylist())
    return [files[i] for i in sorted(found)]


def _current(files: list[_LakeFile], keys: list[str], schema: pa.Schema, io: _Io) -> Spill:
    """Every row of ``files``, tagged with its file's index, by key bucket."""
    spill = io.spill(schema.append(pa.field(_FILE, pa.int32())), "current")
    for i, file in enumerate(files):
        for part in _batches(io.fs, io.root, file, schema, schema.names):
            tagged = part.append_column(_FILE, pa.array(np.full(part.num_rows, i, dtype=np.int32)))
            spill.add(tagged, key_buckets(part, keys))
    return spill


@dataclass
class _Tally:
    """What the groups resolved, summed; a TRUNCATE that deleted keys in several groups counts once."""

    inserted: int = 0
    updated: int = 0
    deleted: int = 0  # deletes of a key, TRUNCATEs left out
    superseded: int = 0
    truncates: set[tuple[str, int]] = field(default_factory=set)
    removed: set[int] = field(default_factory=set)  # indexes of the files holding a changed key
    groups: int = 0

    def add(self, r: Resolution) -> None:
        self.inserted += r.inserted
        self.updated += r.updated
        self.deleted += r.deleted - len(r.truncates)
        self.superseded += r.superseded
        self.truncates |= r.truncates
        self.groups += 1


def _resolve_groups(
    contract: Contract, incoming: Incoming, current: Spill, schema: pa.Schema, io: _Io, writers: DayWriters
) -> tuple[_Tally, Spill]:
    """Resolve the run group by group: write each group's new rows; keep aside the unchanged rows of the files read."""
    keys, tally = contract.primary_key, _Tally()
    kept = io.spill(current.schema, "kept")
    for index, group in enumerate(pack(incoming.spill.sizes + current.sizes, io.budget, incoming.links)):
        arriving = pa.concat_tables([incoming.spill.read(group), incoming.truncates])
        held = current.read(group)
        if arriving.num_rows == 0:
            kept.add(held, np.full(held.num_rows, index, dtype=np.int32))
            continue
        resolution = resolve(contract, held, arriving, schema)
        tally.add(resolution)
        _write_by_day(writers, resolution.rows)
        hit = resolution.replaced
        if hit is None:
            hit = contains_keys(held, resolution.changed, keys)
        tally.removed.update(pc.unique(held.column(_FILE).filter(pa.array(hit))).to_pylist())
        kept.add(held.filter(pa.array(~hit)), np.full(int((~hit).sum()), index, dtype=np.int32))
    return tally, kept


def _rewrite(kept: Spill, removed: set[int], writers: DayWriters) -> None:
    """Write the unchanged rows of every file that is replaced (it held a changed key)."""
    if not removed:
        return
    gone = pa.array(sorted(removed), pa.int32())
    for group in range(kept.buckets):
        if kept.rows[group]:
            rows = kept.read([group])
            _write_by_day(writers, rows.filter(pc.is_in(rows.column(_FILE), gone)).drop_columns([_FILE]))


def _write_by_day(writers: DayWriters, rows: pa.Table) -> None:
    """Write ``rows`` to their date's file: one gather into date order, then a slice per date."""
    if rows.num_rows == 0:
        return
    days = rows.column(PARTITION).combine_chunks().dictionary_encode(null_encoding="encode")
    codes = days.indices.to_numpy(zero_copy_only=False)
    order = np.argsort(codes, kind="stable")
    ordered = rows.drop_columns([PARTITION]).take(pa.array(order))
    starts = np.searchsorted(codes[order], np.arange(len(days.dictionary) + 1))
    for code, day in enumerate(days.dictionary.to_pylist()):
        if starts[code + 1] > starts[code]:
            writers.write(str(day), ordered.slice(int(starts[code]), int(starts[code + 1] - starts[code])))


def _remove_actions(files: list[_LakeFile]) -> list[AddAction | RemoveAction]:
    now = int(time.time() * 1000)
    return [RemoveAction(f.path, True, now, f.size, {PARTITION: f.day}) for f in files]


@dataclass(frozen=True)
class _Io:
    """Where the table's files are, and where and within what budget a run's rows are held by group."""

    fs: pafs.FileSystem
    root: str
    folder: Path
    budget: int

    def spill(self, schema: pa.Schema, name: str) -> Spill:
        return Spill(schema, self.folder / name, self.budget // 2)


def apply_batches(
    uri: str,
    contract: Contract,
    rows: pa.Table | Iterable[pa.Table],
    *,
    batch_ids: list[str],
    version: int | None,
    metadata: dict[str, Any],
    storage_options: dict[str, str] | None = None,
    group_bytes: int = GROUP_BYTES,
    work_dir: Path | None = None,
) -> ApplyResult:
    """Apply ``rows`` (see the module doc for their columns) to the keyed table at ``uri`` as version ``version + 1``.

    ``rows`` is one table or parts of the run read one after another (each
    read once). ``version`` is the table version the caller planned at
    (``None``: no table yet); ``batch_ids`` are recorded in the same commit.
    Rows of batches the table at ``version`` already records are left out
    (replaying a batch changes nothing); with none left, nothing is committed
    and the result's ``version`` is ``version``. A run that changes no row
    still records its batch ids (one version without data). ``group_bytes``
    bounds the rows resolved at once; rows past it are held in ``work_dir``
    (a temporary folder of its own, removed after).

    Raises:
        LakeConflictError: another writer committed after ``version``; nothing of this is visible.
        LakeError: the table cannot be read or written.
    """
    if not contract.keyed:
        raise LakeError(f"{contract.name} is an append table", hint="append tables commit through commit_batches")
    schema = lake_schema(contract)
    table = table_at(uri, version, schema, storage_options)
    done = tuple(b for b in batch_ids if table.transaction_version(b) is not None)
    batch_ids = [b for b in batch_ids if b not in done]
    if done and not batch_ids:
        return ApplyResult(table.version(), 0, 0, 0, 0, 0, 0, 0, 0, done)
    parts = [rows] if isinstance(rows, pa.Table) else rows
    fs, root = lake_filesystem(uri, storage_options)
    writers = DayWriters(fs, root, schema.remove(schema.get_field_index(PARTITION)), "apply")
    written: list[NewFile] = []
    try:
        with tempfile.TemporaryDirectory(prefix="sluice-apply-", dir=work_dir) as folder:
            io = _Io(fs, root, Path(folder), group_bytes)
            keys = contract.primary_key
            incoming = collect(parts, done, keys, io.spill(input_schema(schema), "incoming"))
            files = _candidates(_files(table), incoming, keys, schema, io)
            tally, kept = _resolve_groups(contract, incoming, _current(files, keys, schema, io), schema, io, writers)
            _rewrite(kept, tally.removed, writers)
        written = writers.close()
        removed = [files[i] for i in sorted(tally.removed)]
        _commit(table, contract, written, removed, batch_ids, metadata)
    except CommitFailedError:
        discard(uri, [f.path for f in written], storage_options)
        raise conflict_error(uri) from None
    except (DeltaError, OSError, pa.ArrowException) as exc:
        raise LakeError(
            f"apply to {uri} failed: {exc}",
            hint="rerun: a batch this commit recorded is skipped, any other is applied again; "
            "`ops lake vacuum` removes files no commit references",
        ) from None
    deleted = tally.deleted + len(tally.truncates)
    changed = tally.inserted + tally.updated + deleted + tally.superseded
    return ApplyResult(
        table.version() + 1,
        tally.inserted,
        tally.updated,
        deleted,
        incoming.rows - changed,
        tally.superseded,
        len(written),
        len(removed),
        len({f.day for f in written} | {f.day for f in removed}),
        done,
        tally.groups,
    )


def _commit(
    table: DeltaTable,
    contract: Contract,
    written: list[NewFile],
    removed: list[_LakeFile],
    batch_ids: list[str],
    metadata: dict[str, Any],
) -> None:
    """One Delta transaction at the next version only: the added and removed files and the batch ids."""
    props = CommitProperties(
        custom_metadata=commit_metadata({**metadata, "mode": contract.mode.value}),
        max_commit_retries=0,
        app_transactions=[Transaction(b, 1) for b in batch_ids],
    )
    table.create_write_transaction(
        [*add_actions(written), *_remove_actions(removed)],
        mode="append",
        schema=lake_schema(contract),
        partition_by=[PARTITION],
        commit_properties=props,
    )
