"""Commits to the lake and the quarantine: one Delta transaction each, on the version a plan read.

A lake commit carries every file of the run (rows of new dates, and rows of
dates the table has that are not in it yet) and every batch id as a Delta
application transaction, in one atomic transaction. It is only written as
the version right after the one its plan read (``max_commit_retries=0``): if
any other writer committed in between, the commit fails with
:class:`~sluice.errors.LakeConflictError` and nothing of it is visible.

The quarantine is one table shared by every dataset. Its commits retry on
a concurrent commit (delta-rs re-checks them: blind appends of other datasets
do not conflict), and a concurrent commit that records one of the same batch
ids fails it; the batch is then found recorded and skipped.
"""

from __future__ import annotations

import contextlib
import functools
import json
import operator
import time
import uuid
from collections.abc import Iterable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, Transaction
from deltalake.exceptions import CommitFailedError, DeltaError
from deltalake.transaction import AddAction, RemoveAction

from sluice.errors import LakeConflictError, LakeError
from sluice.lake import staging
from sluice.lake.file_stats import written_stats
from sluice.lake.table import (
    META_PREFIX,
    CommitResult,
    DayWriters,
    DedupedBucket,
    NewFile,
    dedup_bucket,
    lake_dataset,
    lake_filesystem,
    lake_schema,
    open_table,
    parts_by_day,
)
from sluice.validate.chunk import PARTITION, QUARANTINE_SCHEMA
from sluice.validate.contracts import Contract

QUARANTINE_PARTITIONS = ["dataset", "dt"]


def conflict_error(uri: str) -> LakeConflictError:
    return LakeConflictError(
        f"another writer committed to {uri} after this run read it",
        hint="the run re-plans against the new version; if this persists, another "
        "process writes the table without the dataset's lease",
    )


def open_or_create(
    uri: str, schema: pa.Schema, partition_by: list[str], storage_options: dict[str, str] | None = None
) -> DeltaTable:
    """The table at ``uri``, created empty if missing; of several concurrent creators one wins, the rest open it."""
    table = open_table(uri, storage_options)
    if table is not None:
        return table
    try:
        return DeltaTable.create(
            uri,
            schema=schema,
            partition_by=partition_by,
            mode="ignore",
            storage_options=storage_options or None,
            commit_properties=CommitProperties(max_commit_retries=0),
        )
    except CommitFailedError:
        table = open_table(uri, storage_options)
        if table is None:
            raise LakeError(
                f"cannot create the Delta table {uri}", hint="check the lake path and its permissions"
            ) from None
        return table
    except (DeltaError, OSError) as exc:
        raise LakeError(
            f"cannot create the Delta table {uri}: {exc}", hint="check the lake path and its permissions"
        ) from None


def table_at(uri: str, version: int | None, schema: pa.Schema, storage_options: dict[str, str] | None) -> DeltaTable:
    """The table as a plan read it: at ``version``, or freshly created when the plan found no table."""
    if version is None:
        table = open_or_create(uri, schema, [PARTITION], storage_options)
        if table.version() != 0:
            raise conflict_error(uri)
        return table
    try:
        return DeltaTable(uri, version=version, storage_options=storage_options or None)
    except (DeltaError, OSError) as exc:
        raise LakeError(
            f"cannot open {uri} at version {version}: {exc}", hint="check the lake path and credentials"
        ) from None


def _key_ranges(rows: pa.Table, keys: list[str]) -> pc.Expression | None:
    """Each key column within the range ``rows`` hold: only lake rows inside can match (statistics prune the rest)."""
    bounds: list[pc.Expression] = []
    for name in keys:
        kind = rows.schema.field(name).type
        if not (pa.types.is_integer(kind) or pa.types.is_string(kind) or pa.types.is_temporal(kind)):
            continue  # floats (NaN) and others: read every key of the day
        low, high = pc.min_max(rows.column(name)).values()
        if low.is_valid and high.is_valid:
            bounds.append((pc.field(name) >= low) & (pc.field(name) <= high))
    return functools.reduce(operator.and_, bounds) if bounds else None


def _lake_keys(table: DeltaTable, rows: pa.Table, keys: list[str], days: list[str], like: pa.Schema) -> pa.Table:
    """The key columns (and date) of the table's rows on ``days`` whose keys lie in the ranges of ``rows``.

    Typed like ``like``; keys outside a column's range in ``rows`` cannot match any of them, so they are not read.
    """
    names = [*keys, PARTITION]
    dataset = lake_dataset(table, partitions=[(PARTITION, "in", days)])
    found = dataset.to_table(columns=names, filter=_key_ranges(rows, keys))
    return found.select(names).cast(pa.schema([like.field(n) for n in names]))


def _absent(rows: pa.Table, lake: pa.Table, keys: list[str]) -> np.ndarray:
    """Which of ``rows`` have no row with the same key and date in ``lake`` (an exact hash anti-join)."""
    names = [*keys, PARTITION]
    left = rows.select(names).append_column("__i", pa.array(np.arange(rows.num_rows, dtype=np.int64)))
    kept = left.join(lake, keys=names, join_type="left anti", use_threads=False).column("__i")
    mask = np.zeros(rows.num_rows, dtype=bool)
    mask[kept.to_numpy()] = True
    return mask


def _insert_missing(
    table: DeltaTable,
    contract: Contract,
    buckets: list[DedupedBucket],
    schema: pa.Schema,
    fs: pafs.FileSystem,
    root: str,
) -> tuple[list[NewFile], int]:
    """Write, as new files, the staged rows of existing dates whose keys the table (at its version) lacks."""
    files, inserted = [], 0
    for bucket in buckets:
        if not bucket.rows_old:
            continue
        rows = bucket.old_rows if bucket.old_rows is not None else staging.read(bucket.old_file)
        held = bucket.lake_keys.on(table, contract.primary_key, bucket.days_old, schema) if bucket.lake_keys else None
        lake = held if held is not None else _lake_keys(table, rows, contract.primary_key, bucket.days_old, schema)
        keep = _absent(rows, lake, contract.primary_key)
        writers = DayWriters(fs, root, schema.remove(schema.get_field_index(PARTITION)), f"{bucket.bucket}-in")
        for day, part in parts_by_day(rows, keep, schema):
            writers.write(day, part.drop_columns([PARTITION]))
        new = writers.close()
        files.extend(new)
        inserted += sum(f.rows for f in new)
    return files, inserted


def _rows_only(rows: int) -> str:
    return json.dumps({"numRecords": rows})


def add_actions(files: Iterable[NewFile], partition: dict[str, str] | None = None) -> list[AddAction | RemoveAction]:
    """Actions adding ``files``, in the list type ``DeltaTable.create_write_transaction`` takes."""
    now = int(time.time() * 1000)
    return [
        AddAction(f.path, f.size, partition or {PARTITION: f.day}, now, True, f.stats or _rows_only(f.rows))
        for f in files
    ]


def commit_metadata(metadata: dict[str, Any]) -> dict[str, str]:
    return {f"{META_PREFIX}{k}": v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}


def discard(uri: str, paths: Iterable[str], storage_options: dict[str, str] | None = None) -> None:
    """Delete data files written for a commit that did not happen (relative paths; missing ones ignored)."""
    fs, root = lake_filesystem(uri, storage_options)
    for rel in paths:
        with contextlib.suppress(OSError):  # an orphan left behind is invisible, and vacuum removes it
            fs.delete_file(f"{root}/{rel}")


def commit_deduped(
    uri: str,
    contract: Contract,
    buckets: list[DedupedBucket],
    *,
    batch_ids: list[str],
    metadata: dict[str, Any],
    version: int | None,
    storage_options: dict[str, str] | None = None,
    table: DeltaTable | None = None,
) -> CommitResult:
    """Commit a plan's deduplicated buckets and record ``batch_ids``, as version ``version + 1`` only.

    ``table``: the table already open at ``version`` (else it is opened at ``version`` here).

    Raises:
        LakeConflictError: another writer took that version; nothing of this commit is visible (its
            files are deleted) and the caller re-plans.
        LakeError: the table cannot be read or written.
    """
    schema = lake_schema(contract)
    if table is None or version is None or table.version() != version:
        table = table_at(uri, version, schema, storage_options)
    read = table.version()
    fs, root = lake_filesystem(uri, storage_options)
    written: list[NewFile] = [f for b in buckets for f in b.new_files]
    try:
        inserted, count = _insert_missing(table, contract, buckets, schema, fs, root)
        written += inserted
        props = CommitProperties(
            custom_metadata=commit_metadata(metadata),
            max_commit_retries=0,
            app_transactions=[Transaction(b, 1) for b in batch_ids],
        )
        table.create_write_transaction(
            add_actions(written), mode="append", schema=schema, partition_by=[PARTITION], commit_properties=props
        )
    except CommitFailedError:
        discard(uri, [f.path for f in written], storage_options)
        raise conflict_error(uri) from None
    except (DeltaError, OSError, pa.ArrowException) as exc:
        # The commit may have landed before the error reached us: its files stay (vacuum removes orphans).
        raise LakeError(
            f"commit to {uri} failed: {exc}",
            hint="rerun: a batch this commit recorded is skipped, any other is committed again; "
            "`ops lake vacuum` removes files no commit references",
        ) from None
    rows_new, rows_old = sum(b.rows_new for b in buckets), sum(b.rows_old for b in buckets)
    days = {f.day for f in written} | {d for b in buckets for d in b.days_old}
    return CommitResult(rows_new + count, sum(b.duplicates for b in buckets), rows_old - count, read + 1, len(days))


def commit_partitions(
    uri: str,
    contract: Contract,
    files_by_bucket: dict[str, list[staging.StagePath]],
    *,
    work_dir: staging.StagePath,
    batch_ids: list[str],
    metadata: dict[str, Any],
    storage_options: dict[str, str] | None = None,
) -> CommitResult:
    """Deduplicate every bucket here, then commit at the version read first: the protocol without a lease."""
    table = open_table(uri, storage_options)
    version = table.version() if table is not None else None
    old_days = {p[PARTITION] for p in table.partitions()} if table is not None else set()
    schema = lake_schema(contract)
    buckets = [
        dedup_bucket(
            b,
            files,
            keys=contract.primary_key,
            schema=schema,
            old_days=old_days,
            out_dir=work_dir,
            table=uri,
            storage_options=storage_options,
        )
        for b, files in files_by_bucket.items()
    ]
    return commit_deduped(
        uri, contract, buckets, batch_ids=batch_ids, metadata=metadata, version=version, storage_options=storage_options
    )


def quarantine_app_id(dataset: str, batch: str) -> str:
    """A batch's application-transaction id in the shared quarantine: one file may feed several datasets."""
    return f"{dataset}/{batch}"


def _quarantine_file(
    fs: pafs.FileSystem, root: str, staged: staging.StagePath
) -> tuple[AddAction | RemoveAction, int] | None:
    """Copy one staged quarantine file into the table folder as Parquet (not yet committed)."""
    part = staging.read(staged).cast(QUARANTINE_SCHEMA)
    if part.num_rows == 0:
        return None
    dataset, day = part.column("dataset")[0].as_py(), str(part.column("dt")[0].as_py())
    rel = f"dataset={dataset}/dt={day}/part-{uuid.uuid4().hex}.snappy.parquet"
    fs.create_dir(f"{root}/dataset={dataset}/dt={day}", recursive=True)
    rows = part.drop_columns(["dataset", "dt"])
    with pq.ParquetWriter(f"{root}/{rel}", rows.schema, filesystem=fs) as writer:
        writer.write_table(rows)
    size = int(fs.get_file_info(f"{root}/{rel}").size)
    new = NewFile(rel, day, size, part.num_rows, written_stats(writer, fs, f"{root}/{rel}", rows.schema))
    return add_actions([new], {"dataset": dataset, "dt": day})[0], part.num_rows


def _recorded(table: DeltaTable, dataset: str, batch: str) -> bool:
    # Quarantine commits before namespaced ids recorded the bare batch id.
    return (
        table.transaction_version(quarantine_app_id(dataset, batch)) is not None
        or table.transaction_version(batch) is not None
    )


def commit_quarantine(
    uri: str,
    files: dict[str, list[staging.StagePath]],
    *,
    dataset: str,
    metadata: dict[str, Any],
    storage_options: dict[str, str] | None = None,
    attempts: int = 3,
) -> int:
    """Append staged quarantine entries of ``dataset``, skipping batches the quarantine already records.

    ``files`` maps batch id to its staged quarantine files (each holds one
    dataset and ingest date). They are copied into the table folder one at a
    time, so memory stays flat, and registered in one commit. Returns rows
    added; with nothing left to add, writes no version.
    """
    if not files:
        return 0
    for _attempt in range(attempts):
        table = open_or_create(uri, QUARANTINE_SCHEMA, QUARANTINE_PARTITIONS, storage_options)
        todo = {b: f for b, f in files.items() if not _recorded(table, dataset, b)}
        if not todo:
            return 0
        fs, root = lake_filesystem(uri, storage_options)
        actions: list[AddAction | RemoveAction] = []
        count = 0
        try:
            for added in (_quarantine_file(fs, root, p) for paths in todo.values() for p in paths):
                if added:
                    actions.append(added[0])
                    count += added[1]
            props = CommitProperties(
                custom_metadata=commit_metadata(metadata),
                app_transactions=[Transaction(quarantine_app_id(dataset, b), 1) for b in todo],
            )
            table.create_write_transaction(
                actions,
                mode="append",
                schema=QUARANTINE_SCHEMA,
                partition_by=QUARANTINE_PARTITIONS,
                commit_properties=props,
            )
            return count
        except CommitFailedError:  # a concurrent commit recorded one of these batches: look again
            discard(uri, [a.path for a in actions], storage_options)
        except (DeltaError, OSError, pa.ArrowException) as exc:
            raise LakeError(
                f"quarantine commit to {uri} failed: {exc}",
                hint="rerun: batches it recorded are skipped, others are quarantined again",
            ) from None
    raise conflict_error(uri)


def evolve_schema(
    uri: str, schema: pa.Schema, storage_options: dict[str, str] | None = None, *, table: DeltaTable | None = None
) -> list[str]:
    """Add to an existing table the nullable columns of ``schema`` it lacks; return their names.

    Delta schema evolution for appends: a column a contract gains (or one
    that joined the lake schema later, such as ``_warnings``) is added to the
    table's schema before the commit, so the new files' values are visible
    and the older rows read as null. Without it the table would take the new
    files and hide the column from every reader. Only additions are made
    here: a column the contract dropped stays in the table (its older rows
    keep their values, newer rows hold null), and other differences are left
    to the commit to refuse. Two writers adding the same column: the second
    finds it there. ``table``: the table already open and up to date (else it is opened here).
    """
    from deltalake.schema import Schema

    table = table if table is not None else open_table(uri, storage_options)
    if table is None:
        return []
    have = set(table.schema().to_arrow().names)
    missing = [f for f in schema if f.name not in have and f.nullable]
    if not missing:
        return []
    try:
        table.alter.add_columns(list(Schema.from_arrow(pa.schema(missing)).fields))
    except (DeltaError, OSError) as exc:
        again = open_table(uri, storage_options)
        if again is None or not {f.name for f in missing} <= set(again.schema().to_arrow().names):
            raise LakeError(
                f"cannot add columns {[f.name for f in missing]} to {uri}: {exc}",
                hint="check the lake path and its permissions",
            ) from None
    return [f.name for f in missing]
