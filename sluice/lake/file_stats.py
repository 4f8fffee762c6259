"""A written Parquet file's column statistics in the Delta log's ``stats`` JSON, taken from its footer.

``{"numRecords": N, "minValues": {...}, "maxValues": {...}, "nullCount": {...}}``
over the file's row groups, structs nested as Delta nests them. With them a
reader (delta-rs, DuckDB, Spark) skips the files a filter cannot match.

Only bounds that hold are written: numbers, booleans, strings, dates,
timestamps and decimals get a minimum and maximum; lists and maps get none
(Delta keeps none). A timestamp is an ISO string at millisecond precision,
as Delta keeps it: the minimum rounded down and the maximum rounded up, so
both still bound the values. A string longer than :data:`MAX_TEXT` is
bounded by its prefix below and by the prefix's successor above (the prefix
with its last character that can grow moved to the next one), as Delta's
writers truncate long strings.

A file either bounds every column that holds a value, or none: delta-rs
reads a column missing from ``minValues`` or ``maxValues`` of a file whose
stats name it elsewhere as bounded by null, and a filter on that column
then skips the file and silently loses its rows. So a file with a column
that cannot be bounded (a row group without statistics, a float that is
not finite, bytes) keeps ``numRecords`` only. The JSON is written as UTF-8,
not ``\\u`` escapes: delta-rs reads an escaped surrogate pair (a character
beyond U+FFFF) as another character.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

MAX_TEXT = 32
Path = tuple[str, ...]
Bound = bool | int | float | str
_MS = dt.timedelta(milliseconds=1)


def leaf_paths(schema: pa.Schema) -> list[Path | None]:
    """Each Parquet leaf column of ``schema`` in file order: its path, or ``None`` inside a list or map."""

    def walk(kind: pa.DataType, path: Path | None) -> Iterator[Path | None]:
        if pa.types.is_struct(kind):
            for i in range(kind.num_fields):
                child = kind.field(i)
                yield from walk(child.type, None if path is None else (*path, child.name))
        elif pa.types.is_map(kind):
            yield from walk(kind.key_type, None)
            yield from walk(kind.item_type, None)
        elif pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
            yield from walk(kind.value_type, None)
        else:
            yield path

    return [p for f in schema for p in walk(f.type, (f.name,))]


def _timestamp(value: dt.datetime, up: bool) -> str:
    """``value`` at millisecond precision (rounded down, or ``up``) as Delta's stats hold it."""
    whole = value.replace(microsecond=value.microsecond // 1000 * 1000)
    if up and whole != value:
        whole += _MS
    if whole.tzinfo is None:
        return whole.isoformat(timespec="milliseconds")
    return whole.astimezone(dt.timezone.utc).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def json_bound(value: object, up: bool) -> Bound | None:
    """A footer's minimum (or maximum, ``up``) as a Delta stats value; ``None`` when it bounds nothing in JSON."""
    if value is None:
        return None
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        return float(value) if value.is_finite() and float(value) == value else None
    if isinstance(value, dt.datetime):
        return _timestamp(value, up)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        if len(value) <= MAX_TEXT:
            return value
        return successor(value[:MAX_TEXT]) if up else value[:MAX_TEXT]
    return None  # bytes and other physical values: no bound


def successor(prefix: str) -> str | None:
    """The least string above every string that starts with ``prefix`` (``None``: there is none).

    Its last character that can grow moves to the next code point (past the surrogates, which UTF-8 cannot
    hold), and what follows it goes; UTF-8 bytes order as code points do, so Arrow agrees.
    """
    for i in range(len(prefix) - 1, -1, -1):
        code = ord(prefix[i]) + 1
        if 0xD800 <= code <= 0xDFFF:
            code = 0xE000
        if code <= 0x10FFFF:
            return prefix[:i] + chr(code)
    return None


@dataclass
class _Column:
    low: Bound | None = None
    high: Bound | None = None
    nulls: int = 0
    bounded: bool = True  # every row group gave a minimum and maximum (or held only nulls)
    counted: bool = True  # every row group gave its null count

    def add(self, stats: pq.Statistics | None, rows: int) -> None:
        if stats is None or not stats.has_null_count:
            self.counted = self.bounded = False
            return
        self.nulls += stats.null_count
        if not stats.has_min_max:
            self.bounded = self.bounded and stats.null_count == rows
            return
        low, high = json_bound(stats.min, False), json_bound(stats.max, True)
        if low is None or high is None:
            self.bounded = False
            return
        self.low = low if self.low is None or low < self.low else self.low  # type: ignore[operator]
        self.high = high if self.high is None or high > self.high else self.high  # type: ignore[operator]


def _put(into: dict[str, object], path: Path, value: object) -> None:
    for name in path[:-1]:
        into = into.setdefault(name, {})  # type: ignore[assignment]
    into[path[-1]] = value


def file_stats(meta: pq.FileMetaData, schema: pa.Schema) -> str:
    """The Delta ``stats`` JSON of a Parquet file written with ``schema`` whose footer is ``meta``."""
    paths = leaf_paths(schema)
    columns = {i: _Column() for i, p in enumerate(paths) if p is not None and i < meta.num_columns}
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for i, column in columns.items():
            chunk = group.column(i)
            column.add(chunk.statistics if chunk.is_stats_set else None, group.num_rows)
    low: dict[str, object] = {}
    high: dict[str, object] = {}
    nulls: dict[str, object] = {}
    for i, column in columns.items():
        path = paths[i]
        if path is None:
            continue
        if not (column.bounded and column.counted):
            return json.dumps({"numRecords": meta.num_rows})  # a column with values and no bounds: see the module doc
        if column.low is not None and column.high is not None:
            _put(low, path, column.low)
            _put(high, path, column.high)
        _put(nulls, path, column.nulls)  # bounded without a minimum: only nulls
    found = {"numRecords": meta.num_rows, "minValues": low, "maxValues": high, "nullCount": nulls}
    return json.dumps(found, separators=(",", ":"), ensure_ascii=False)  # delta-rs misreads escaped surrogate pairs


def written_stats(writer: pq.ParquetWriter, fs: pafs.FileSystem, path: str, schema: pa.Schema) -> str:
    """The stats JSON of the file ``writer`` wrote and closed at ``path``: from the footer it kept, else read back."""
    meta = getattr(getattr(writer, "writer", None), "metadata", None)
    if not isinstance(meta, pq.FileMetaData):
        meta = pq.read_metadata(path, filesystem=fs)
    return file_stats(meta, schema)
