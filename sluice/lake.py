"""The Delta Lake: one table per dataset, partitioned by ``dt=YYYY-MM-DD``.

A run commits all its new partitions in one atomic append, and inserts into
partitions the table already has with a MERGE (insert when not matched), so a
crash never leaves half a partition visible and a rerun never duplicates.
Each source batch id is recorded as a Delta application transaction on the
run's last commit; a batch already recorded is skipped on the next run.

Deduplication on the primary key runs in two passes per partition: first the
key columns alone decide which rows survive (first occurrence wins, in source
order), then the surviving rows stream to the writer. Memory is bounded by a
partition's keys, not by the input.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import DeltaError, TableNotFoundError

from sluice.coerce import arrow_schema
from sluice.contracts import Contract
from sluice.errors import LakeError
from sluice.validate import BATCH_COL, PARTITION, QUARANTINE_SCHEMA, ROW_COL

META_PREFIX = "sluice."


@dataclass(frozen=True)
class CommitResult:
    rows_written: int
    duplicates_in_run: int
    duplicates_in_lake: int
    version: int | None
    partitions: int


def table_uri(root: str, dataset: str) -> str:
    return f"{root.rstrip('/')}/{dataset}"


def lake_schema(contract: Contract) -> pa.Schema:
    base = arrow_schema(contract)
    return base.append(pa.field(PARTITION, pa.date32())).append(pa.field(BATCH_COL, pa.string())).append(
        pa.field(ROW_COL, pa.int64()))


def open_table(uri: str, storage_options: dict[str, str] | None = None) -> DeltaTable | None:
    try:
        return DeltaTable(uri, storage_options=storage_options or None)
    except TableNotFoundError:
        return None
    except (DeltaError, OSError) as exc:
        raise LakeError(f"cannot open Delta table {uri}: {exc}", hint="check the lake path and credentials") from None


def committed_batches(uri: str, batch_ids: list[str], storage_options: dict[str, str] | None = None) -> set[str]:
    """Which of ``batch_ids`` a previous run already committed to the table."""
    table = open_table(uri, storage_options)
    if table is None:
        return set()
    return {b for b in batch_ids if table.transaction_version(b) is not None}


def _keep_masks(files: list[Path], keys: list[str], days: pa.Array | None) -> tuple[list[np.ndarray], int]:
    """Which rows of ``files`` survive: first occurrence of each key, among ``days`` only."""
    parts = [pq.read_table(f, columns=keys) for f in files]
    sizes = [p.num_rows for p in parts]
    total = sum(sizes)
    table = pa.concat_tables(parts)
    wanted = np.ones(total, dtype=bool)
    if days is not None:
        wanted = pc.is_in(table.column(PARTITION), value_set=days).to_numpy(zero_copy_only=False)
    table = table.append_column("__i", pa.array(np.arange(total, dtype=np.int64))).filter(pa.array(wanted))
    first = table.group_by(keys, use_threads=False).aggregate([("__i", "min")]).column("__i_min")
    mask = np.zeros(total, dtype=bool)
    mask[first.to_numpy()] = True
    bounds = np.cumsum([0, *sizes])
    return [mask[bounds[i]:bounds[i + 1]] for i in range(len(files))], int(wanted.sum()) - int(mask.sum())


@dataclass
class _Stream:
    """Deduplicated rows of some dates, streamed bucket by bucket as record batches.

    Keys include the partition date, so a key seen on two dates is kept on both
    (the contract says a key's date never changes; such rows stay visible).
    """

    schema: pa.Schema
    files_by_bucket: dict[str, list[Path]]
    keys: list[str]
    days: pa.Array | None = None
    rows: int = 0
    duplicates: int = 0

    def batches(self) -> Iterator[pa.RecordBatch]:
        for files in self.files_by_bucket.values():
            masks, dupes = _keep_masks(files, [*self.keys, PARTITION], self.days)
            self.duplicates += dupes
            for path, mask in zip(files, masks, strict=True):
                if not mask.any():
                    continue
                kept = pq.read_table(path).filter(pa.array(mask)).select(self.schema.names).cast(self.schema)
                self.rows += kept.num_rows
                yield from kept.to_batches()

    def reader(self) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(self.schema, self.batches())


def _merge_predicate(keys: list[str], days: list[str]) -> str:
    on = " AND ".join(f't."{k}" = s."{k}"' for k in keys)
    listed = ", ".join(f"'{d}'" for d in days)
    return f't."{PARTITION}" = s."{PARTITION}" AND {on} AND t."{PARTITION}" IN ({listed})'


def _as_dates(days: set[str]) -> pa.Array:
    return pa.array(sorted(days), pa.string()).cast(pa.date32())


def commit_partitions(
    uri: str,
    contract: Contract,
    files_by_bucket: dict[str, list[Path]],
    *,
    days: set[str],
    batch_ids: list[str],
    metadata: dict[str, Any],
    storage_options: dict[str, str] | None = None,
) -> CommitResult:
    """Deduplicate staged rows of ``days`` and commit them; the last commit records ``batch_ids``."""
    schema = lake_schema(contract)
    table = open_table(uri, storage_options)
    existing = {p[PARTITION] for p in table.partitions()} if table is not None else set()
    new, old = days - existing, days & existing
    custom = {f"{META_PREFIX}{k}": v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}
    final = CommitProperties(custom_metadata=custom, app_transactions=[Transaction(b, 1) for b in batch_ids])
    interim = CommitProperties(custom_metadata={**custom, f"{META_PREFIX}stage": "new-partitions"})
    written, in_run, in_lake = 0, 0, 0
    try:
        if new or table is None or not old:
            stream = _Stream(schema, files_by_bucket, contract.primary_key, _as_dates(new) if old else None)
            write_deltalake(uri, stream.reader(), mode="append", partition_by=[PARTITION],
                            storage_options=storage_options or None,
                            commit_properties=interim if old else final)
            written, in_run = stream.rows, stream.duplicates
        if old:
            table = DeltaTable(uri, storage_options=storage_options or None)
            stream = _Stream(schema, files_by_bucket, contract.primary_key, _as_dates(old))
            metrics = table.merge(stream.reader(), predicate=_merge_predicate(contract.primary_key, sorted(old)),
                                  source_alias="s", target_alias="t", commit_properties=final,
                                  ).when_not_matched_insert_all().execute()
            inserted = int(metrics["num_target_rows_inserted"])
            written += inserted
            in_run += stream.duplicates
            in_lake += stream.rows - inserted
    except (DeltaError, OSError) as exc:
        raise LakeError(f"commit to {uri} failed: {exc}",
                        hint="nothing from this run is visible beyond whole partitions; rerun to complete") from None
    version = DeltaTable(uri, storage_options=storage_options or None).version()
    return CommitResult(written, in_run, in_lake, version, len(days))


def commit_quarantine(
    uri: str, files: dict[str, list[Path]], *, run_id: str, storage_options: dict[str, str] | None = None
) -> int:
    """Append staged quarantine entries, skipping batches already recorded there.

    ``files`` maps batch id to its staged quarantine files. Returns rows appended.
    """
    done = committed_batches(uri, list(files), storage_options)
    todo = {b: f for b, f in files.items() if b not in done}
    if not todo:
        return 0
    count = 0

    def batches() -> Iterator[pa.RecordBatch]:
        nonlocal count
        for paths in todo.values():
            for path in paths:
                part = pq.read_table(path).cast(QUARANTINE_SCHEMA)
                count += part.num_rows
                yield from part.to_batches()

    props = CommitProperties(custom_metadata={f"{META_PREFIX}run_id": run_id},
                             app_transactions=[Transaction(b, 1) for b in todo])
    try:
        write_deltalake(uri, pa.RecordBatchReader.from_batches(QUARANTINE_SCHEMA, batches()), mode="append",
                        partition_by=["dataset", "dt"], storage_options=storage_options or None,
                        commit_properties=props)
    except (DeltaError, OSError) as exc:
        raise LakeError(f"quarantine commit to {uri} failed: {exc}") from None
    return count


@dataclass(frozen=True)
class HistoryEntry:
    version: int
    timestamp_ms: int
    operation: str
    run_id: str | None
    metadata: dict[str, Any]


def history(uri: str, *, limit: int | None = None, storage_options: dict[str, str] | None = None) -> list[HistoryEntry]:
    table = open_table(uri, storage_options)
    if table is None:
        raise LakeError(f"no Delta table at {uri}", hint="run an ingestion first, or check --lake")
    entries = []
    for item in table.history(limit):
        meta = {}
        for key, value in item.items():
            if key.startswith(META_PREFIX):
                try:
                    meta[key.removeprefix(META_PREFIX)] = json.loads(value) if isinstance(value, str) else value
                except json.JSONDecodeError:
                    meta[key.removeprefix(META_PREFIX)] = value
        entries.append(HistoryEntry(int(item.get("version", -1)), int(item.get("timestamp", 0)),
                                    str(item.get("operation", "")), meta.get("run_id"), meta))
    return entries


def vacuum(uri: str, *, retention_hours: int, dry_run: bool, storage_options: dict[str, str] | None = None) -> list[str]:
    """Remove files no commit references: tombstoned ones past retention and orphans of killed writers."""
    table = open_table(uri, storage_options)
    if table is None:
        raise LakeError(f"no Delta table at {uri}")
    return list(table.vacuum(retention_hours=retention_hours, dry_run=dry_run, enforce_retention_duration=False,
                             full=True))
