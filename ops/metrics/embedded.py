"""The embedded metrics store: append-only Parquet part files under ``<SLUICE_HOME>/metrics``.

Layout::

    metrics/metric=<name>/date=<YYYY-MM-DD>/part-<time_ns>-<random>.parquet

Each part file holds ``series`` (the :func:`~ops.metrics.models.labels_key` of
the label set), ``ts`` (timestamp[ns, UTC]) and ``value`` (float64), sorted by
series then time. A write groups its points by metric and UTC day and adds one
file per group, written under a dot-name and renamed, so readers never see half
a file. Reads list only the partitions a selector and a time range can touch,
then filter with pyarrow dataset expressions. Equal ``(metric, labels, ts)``
points are read once, the last written winning. When a partition holds
``compact_files`` part files, a write compacts it into one file (deduplicated);
:meth:`EmbeddedStore.compact` does it on demand.

Every step works on whole columns (pyarrow compute, numpy); Python loops run
over series and partitions, never over points.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from ops.metrics.models import (
    MetricInfo,
    Sample,
    Selector,
    Series,
    ensure_metric_name,
    from_ns,
    labels_from_key,
    labels_key,
    to_ns,
    utc,
)

NS_PER_DAY = 86_400 * 1_000_000_000
TIMESTAMP = pa.timestamp("ns", tz="UTC")
POINTS = pa.schema([("series", pa.string()), ("ts", TIMESTAMP), ("value", pa.float64())])
PARTITIONS = pa.schema([("metric", pa.string()), ("date", pa.string())])
DATASET = pa.schema([*POINTS, *PARTITIONS])
_SEP = "\x1f"  # joins metric and series key into one id; neither can contain it
_READ_ATTEMPTS = 6
_READ_BACKOFF = 0.05
"""Seconds before the second read attempt, doubling after: compactions of a write finish in the meantime."""


@dataclass(frozen=True)
class CompactionResult:
    """What :meth:`EmbeddedStore.compact` did."""

    partitions: int
    files_before: int
    files_after: int


class EmbeddedStore:
    """A :class:`~ops.metrics.store.MetricsStore` on local Parquet files.

    Args:
        root: the folder of the store, created on first write.
        compact_files: a partition with this many part files is compacted after a write.
    """

    def __init__(self, root: Path, *, compact_files: int = 64) -> None:
        self.root = Path(root)
        self.compact_files = compact_files

    @property
    def location(self) -> str:
        return str(self.root)

    def write(self, samples: Iterable[Sample]) -> int:
        rows = list(samples)
        table = pa.table(
            {
                "metric": pa.array([s.metric for s in rows], pa.string()),
                "series": pa.array([labels_key(s.labels) for s in rows], pa.string()),
                "ts": np.fromiter((to_ns(s.ts) for s in rows), dtype="int64", count=len(rows)),
                "value": np.fromiter((s.value for s in rows), dtype="float64", count=len(rows)),
            }
        )
        return self._append(table)

    def write_series(self, series: Iterable[Series]) -> int:
        items = [s for s in series if len(s)]
        for s in items:
            ensure_metric_name(s.metric)
        owner = pa.array(np.repeat(np.arange(len(items), dtype="int32"), [len(s) for s in items]), pa.int32())
        table = pa.table(
            {
                "metric": _repeat(owner, [s.metric for s in items]),
                "series": _repeat(owner, [s.key for s in items]),
                "ts": np.concatenate([s.timestamps for s in items]) if items else np.empty(0, "int64"),
                "value": np.concatenate([s.values for s in items]) if items else np.empty(0, "float64"),
            }
        )
        return self._append(table)

    def series(
        self, selector: Selector, *, start: datetime | None = None, end: datetime | None = None
    ) -> list[MetricInfo]:
        table = self._read(selector, start, end, columns=["metric", "series", "ts"])
        table = table.set_column(table.schema.get_field_index("ts"), "ts", pc.cast(table["ts"], pa.int64()))
        summary = (
            table.group_by(["metric", "series"])
            .aggregate([("ts", "count_distinct"), ("ts", "min"), ("ts", "max")])
            .sort_by([("metric", "ascending"), ("series", "ascending")])
        )
        return [
            MetricInfo(metric, labels_from_key(key), points, from_ns(first), from_ns(last))
            for metric, key, points, first, last in zip(
                *(summary[c].to_pylist() for c in ("metric", "series", "ts_count_distinct", "ts_min", "ts_max")),
                strict=True,
            )
        ]

    def query_range(
        self, selector: Selector, start: datetime, end: datetime, step: timedelta | None = None
    ) -> list[Series]:
        lo = start - step + timedelta(microseconds=1) if step else start
        table = _last_written(self._read(selector, lo, end, columns=["metric", "series", "ts", "value"]))
        ids, ts, values = _columns(table)
        if step is not None:
            ids, ts, values = _last_per_step(
                ids, ts, values, to_ns(start), to_ns(end), step // timedelta(microseconds=1) * 1_000
            )
        return _split(ids, ts, values)

    def compact(self, *, min_files: int = 2) -> CompactionResult:
        """Merge the part files of every partition that has at least ``min_files`` of them."""
        before = after = partitions = 0
        for folder in self._partitions(Selector(), None, None):
            files = _part_files(folder)
            if len(files) >= min_files and self._compact_partition(folder):
                partitions += 1
                before += len(files)
                after += len(_part_files(folder))
        return CompactionResult(partitions, before, after)

    def _append(self, table: pa.Table) -> int:
        if table.num_rows == 0:
            return 0
        day = pc.divide(pc.cast(table["ts"], pa.int64()), NS_PER_DAY)
        table = table.append_column("day", day).sort_by(
            [("metric", "ascending"), ("day", "ascending"), ("series", "ascending"), ("ts", "ascending")]
        )
        metric_codes = pc.dictionary_encode(table["metric"]).combine_chunks().indices.to_numpy()
        days = table["day"].to_numpy()
        starts = np.flatnonzero(np.r_[True, (metric_codes[1:] != metric_codes[:-1]) | (days[1:] != days[:-1])])
        touched = []
        for first, stop in zip(starts, np.r_[starts[1:], table.num_rows], strict=True):
            group = table.slice(first, stop - first)
            folder = self.root / f"metric={group['metric'][0].as_py()}" / f"date={_day_name(int(days[first]))}"
            _write_part(
                folder,
                pa.table(
                    {"series": group["series"], "ts": pc.cast(group["ts"], TIMESTAMP), "value": group["value"]},
                    schema=POINTS,
                ),
            )
            touched.append(folder)
        for folder in touched:
            if len(_part_files(folder)) >= self.compact_files:
                self._compact_partition(folder)
        return int(table.num_rows)

    def _partitions(self, selector: Selector, start: datetime | None, end: datetime | None) -> list[Path]:
        """The partition folders that can hold points of ``selector`` in ``[start, end]``."""
        if not self.root.is_dir():
            return []
        first = utc(start).date().isoformat() if start else ""
        last = utc(end).date().isoformat() if end else "9999-12-31"
        return [
            day
            for metric in sorted(self.root.glob("metric=*"))
            if metric.is_dir() and selector.name_matches(metric.name.removeprefix("metric="))
            for day in sorted(metric.glob("date=*"))
            if day.is_dir() and first <= day.name.removeprefix("date=") <= last
        ]

    def _read(self, selector: Selector, start: datetime | None, end: datetime | None, columns: list[str]) -> pa.Table:
        """The points of the series ``selector`` matches in ``[start, end]``, in the order they were written."""
        condition = ds.scalar(True)
        if start is not None:
            condition &= ds.field("ts") >= pa.scalar(to_ns(start), pa.int64()).cast(TIMESTAMP)
        if end is not None:
            condition &= ds.field("ts") <= pa.scalar(to_ns(end), pa.int64()).cast(TIMESTAMP)
        for attempt in range(_READ_ATTEMPTS):
            files = [str(f) for folder in self._partitions(selector, start, end) for f in _part_files(folder)]
            try:
                table = ds.dataset(
                    files,
                    schema=DATASET,
                    format="parquet",
                    partition_base_dir=str(self.root),
                    partitioning=ds.partitioning(PARTITIONS, flavor="hive"),
                ).to_table(columns=columns, filter=condition)
                break
            except FileNotFoundError:  # a compaction replaced a file between listing and reading
                if attempt == _READ_ATTEMPTS - 1:
                    raise
                time.sleep(_READ_BACKOFF * 2**attempt)
        return _matching(table, selector)

    def _compact_partition(self, folder: Path) -> bool:
        """Merge ``folder``'s part files into one; False when another process is compacting it."""
        with _partition_lock(folder) as locked:
            if not locked:
                return False
            files = _part_files(folder)
            if len(files) < 2:
                return False
            merged = pa.concat_tables([pq.read_table(f, schema=POINTS) for f in files])
            table = _last_written(merged.append_column("metric", pa.nulls(merged.num_rows, pa.string())))
            _write_part(folder, table.select(["series", "ts", "value"]), name=f"{files[-1].stem}-compacted")
            for f in files:
                f.unlink(missing_ok=True)
            return True


def _repeat(owner: pa.Array, values: list[str]) -> pa.Array:
    """``values[owner[i]]`` for every i, without a Python loop over i."""
    return pa.DictionaryArray.from_arrays(owner, pa.array(values, pa.string())).cast(pa.string())


def _day_name(day: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=day)).isoformat()


def _part_files(folder: Path) -> list[Path]:
    """The part files of a partition, oldest first (their names start with the write time)."""
    return sorted(p for p in folder.glob("part-*.parquet") if p.is_file())


def _write_part(folder: Path, table: pa.Table, *, name: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{name or f'part-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}'}.parquet"
    temporary = folder / f".{final.name}.{uuid.uuid4().hex[:8]}.tmp"  # dot-names are not read
    pq.write_table(table, temporary, compression="zstd")
    os.replace(temporary, final)
    return final


@contextlib.contextmanager
def _partition_lock(folder: Path) -> Iterator[bool]:
    """An exclusive, non-blocking lock on a partition; yields whether it was taken."""
    with open(folder / ".compact.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _series_ids(table: pa.Table) -> pa.ChunkedArray:
    """One string per row naming its series across metrics: ``metric <US> labels_key``."""
    metric = table["metric"] if table["metric"].null_count == 0 else pc.fill_null(table["metric"], "")
    return pc.binary_join_element_wise(metric, table["series"], _SEP)


def _matching(table: pa.Table, selector: Selector) -> pa.Table:
    """The rows of the series ``selector`` matches; labels are parsed once per series, not per row."""
    if not any(m.label != "__name__" for m in selector.matchers) or table.num_rows == 0:
        return table
    ids = _series_ids(table)
    wanted = [
        i
        for i in pc.unique(ids).to_pylist()
        if selector.matches(i.split(_SEP, 1)[0], labels_from_key(i.split(_SEP, 1)[1]))
    ]
    return table.filter(pc.is_in(ids, value_set=pa.array(wanted, pa.string())))


def _last_written(table: pa.Table) -> pa.Table:
    """Sorted by series then time, with one row per ``(metric, series, ts)``: the last one written."""
    table = table.append_column("_id", _series_ids(table)).sort_by([("_id", "ascending"), ("ts", "ascending")])
    if table.num_rows < 2:
        return table
    codes = pc.dictionary_encode(table["_id"]).combine_chunks().indices.to_numpy()
    ts = pc.cast(table["ts"], pa.int64()).to_numpy()
    last = np.r_[(codes[1:] != codes[:-1]) | (ts[1:] != ts[:-1]), True]
    return table.filter(pa.array(last))


def _columns(table: pa.Table) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    table = table.combine_chunks()
    ids = table["_id"].chunk(0) if table.num_rows else pa.array([], pa.string())
    ts = pc.cast(table["ts"], pa.int64()).to_numpy()
    return ids, ts, table["value"].to_numpy()


def _last_per_step(
    ids: pa.Array, ts: np.ndarray, values: np.ndarray, start: int, end: int, step: int
) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """Per series, the latest point in each step ``(start + (k-1)·step, start + k·step]``, stamped at its end."""
    k = -((start - ts) // step)  # ceil((ts - start) / step) in integers
    codes = pc.dictionary_encode(ids).indices.to_numpy(zero_copy_only=False)
    inside = (k >= 0) & (k <= (end - start) // step)
    last = np.r_[(codes[1:] != codes[:-1]) | (k[1:] != k[:-1]), True] & inside
    return ids.filter(pa.array(last)), start + k[last] * step, values[last]


def _split(ids: pa.Array, ts: np.ndarray, values: np.ndarray) -> list[Series]:
    """One :class:`Series` per run of equal ids (the rows are sorted by id)."""
    if len(ids) == 0:
        return []
    codes = pc.dictionary_encode(ids).indices.to_numpy(zero_copy_only=False)
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    names = ids.take(pa.array(starts)).to_pylist()
    result = []
    for name, times, vals in zip(names, np.split(ts, starts[1:]), np.split(values, starts[1:]), strict=True):
        metric, key = name.split(_SEP, 1)
        result.append(Series(metric, labels_from_key(key), times, vals))
    return result
