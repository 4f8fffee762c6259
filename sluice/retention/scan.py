"""Finding a subject's rows in a Delta table: in its current files and in every version time travel can reach.

Files are read one at a time, in batches, with a pyarrow filter and only the
columns that can hold the subject, so memory is bounded by a batch, not by the
table. A data file never changes, so each is read once however many versions
reference it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError

from sluice.lake.table import lake_filesystem

BATCH_ROWS = 65_536
RAW_LINE_KEY = "_raw"  # sluice.lake.quarantine.RAW_LINE_KEY: the whole source line of an unsplittable row
MIN_SUBSTRING = 3  # shorter values are not looked for inside whole source lines


@dataclass(frozen=True)
class Matcher:
    """Which rows of a file hold the subject: the columns to read and a mask over a batch of them."""

    columns: list[str]
    mask: Callable[[pa.RecordBatch], pa.Array]
    row_filter: Callable[[pa.Schema], ds.Expression | None] = lambda _schema: None


_PLAIN = {pa.string_view(): pa.string(), pa.binary_view(): pa.binary(), pa.large_string(): pa.string()}


def plain_type(kind: pa.DataType) -> pa.DataType:
    """The type values are compared in: view and large strings as plain strings (``is_in`` has no view kernel)."""
    return _PLAIN.get(kind, kind)


def typed_values(values: list[str], kind: pa.DataType) -> pa.Array | None:
    """``values`` as ``kind`` (its plain form); ``None`` when they cannot be of that type (nothing can match)."""
    try:
        return pa.array(values, pa.string()).cast(plain_type(kind))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _plain_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([f.with_type(plain_type(f.type)) for f in schema], metadata=schema.metadata)


def column_matcher(values_by_column: dict[str, list[str]]) -> Matcher:
    """Rows where one of the columns holds one of its values (compared in the column's own type)."""

    def typed(schema: pa.Schema) -> dict[str, pa.Array]:
        out = {}
        for name, values in values_by_column.items():
            if name in schema.names and (cast := typed_values(values, schema.field(name).type)) is not None:
                out[name] = cast
        return out

    def row_filter(schema: pa.Schema) -> ds.Expression | None:
        parts = [ds.field(name).isin(values) for name, values in typed(schema).items()]
        if not parts:
            return ds.scalar(False)
        combined = parts[0]
        for part in parts[1:]:
            combined = combined | part
        return combined

    def mask(batch: pa.RecordBatch) -> pa.Array:
        hit = pa.array([False] * batch.num_rows)
        for name, values in typed(batch.schema).items():
            found = pc.is_in(batch.column(name), value_set=values)
            hit = pc.or_kleene(hit, pc.fill_null(found, False))
        return hit

    return Matcher(list(values_by_column), mask, row_filter)


def quarantine_matcher(keys: list[str], values: list[str]) -> Matcher:
    """Quarantine entries whose raw record holds a value under one of ``keys``, or whose failing value is one.

    A row that could not be split keeps its whole source line under ``_raw``; it
    matches when the line contains a value of at least :data:`MIN_SUBSTRING` characters.
    """
    value_set = pa.array(values, pa.string())

    def mask(batch: pa.RecordBatch) -> pa.Array:
        record, column, value = batch.column("record"), batch.column("column"), batch.column("value")
        hit = pc.and_kleene(
            pc.is_in(column, value_set=pa.array(keys, pa.string())), pc.is_in(value, value_set=value_set)
        )
        for key in keys:
            hit = pc.or_kleene(hit, pc.is_in(pc.map_lookup(record, key, "first"), value_set=value_set))
        raw = pc.map_lookup(record, RAW_LINE_KEY, "first")
        for text in (v for v in values if len(v) >= MIN_SUBSTRING):
            hit = pc.or_kleene(hit, pc.match_substring(raw, text))
        return pc.fill_null(hit, False)

    return Matcher(["record", "column", "value"], mask)


def local_path(fs: pafs.FileSystem, uri: str) -> str:
    path = uri.removeprefix("s3://").removeprefix("file://")
    return unquote(path) if isinstance(fs, pafs.LocalFileSystem) else path


def file_exists(fs: pafs.FileSystem, uri: str) -> bool:
    return bool(fs.get_file_info(local_path(fs, uri)).type == pafs.FileType.File)


def iter_matches(
    fs: pafs.FileSystem, uri: str, matcher: Matcher, extra: list[str] | None = None
) -> list[pa.RecordBatch]:
    """The matching rows of one data file (``matcher.columns`` and ``extra`` columns); none when it is gone."""
    path = local_path(fs, uri)
    if fs.get_file_info(path).type != pafs.FileType.File:
        return []
    dataset = ds.dataset(path, format="parquet", filesystem=fs)
    # Files rewritten by a Delta MERGE hold view types, which the scan's filter cannot take: read them as plain.
    dataset = ds.dataset(path, format="parquet", filesystem=fs, schema=_plain_schema(dataset.schema))
    wanted = [c for c in dict.fromkeys([*matcher.columns, *(extra or [])]) if c in dataset.schema.names]
    found = []
    for batch in dataset.to_batches(
        columns=wanted, filter=matcher.row_filter(dataset.schema), batch_size=BATCH_ROWS, use_threads=False
    ):
        if batch.num_rows and pc.any(mask := matcher.mask(batch)).as_py():
            found.append(batch.filter(mask))
    return found


@dataclass
class TableScan:
    """A subject in one table: matching rows per file, and which versions referenced a matching file."""

    rows_now: int = 0
    versions: list[int] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # files (URIs) that hold matching rows
    current: list[tuple[str, pa.RecordBatch]] = field(default_factory=list)  # the current version's matches by file


def scan_table(
    uri: str, matcher: Matcher, *, extra: list[str] | None = None, storage_options: dict[str, str] | None = None
) -> TableScan:
    """Where ``matcher``'s rows are in the table at ``uri``: every reachable version, each file read once."""
    fs, _root = lake_filesystem(uri, storage_options)
    table = DeltaTable(uri, storage_options=storage_options or None)
    current = table.version()
    hits: dict[str, list[pa.RecordBatch]] = {}
    scan = TableScan()
    versions = sorted(int(h["version"]) for h in table.history())
    for version in versions:
        try:
            table.load_as_version(version)
            uris = table.file_uris()
        except (DeltaError, OSError):
            continue  # its log entry was cleaned up: time travel cannot reach it
        for file in uris:
            if file not in hits:
                hits[file] = iter_matches(fs, file, matcher, extra)
        if any(hits[f] for f in uris):
            scan.versions.append(version)
        if version == current:
            scan.current = [(f, b) for f in uris for b in hits[f]]
            scan.rows_now = sum(b.num_rows for _f, b in scan.current)
    scan.files = sorted(f for f, found in hits.items() if found)
    return scan


def partition_of(uri: str, column: str) -> str | None:
    """The value of the hive partition ``column`` in a data file's path."""
    for part in uri.split("/"):
        name, sep, value = part.partition("=")
        if sep and name == column:
            return unquote(value)
    return None
