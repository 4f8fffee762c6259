"""Rows split by key hash into buckets, held in memory up to a budget and spilled to disk past it.

A keyed apply (:mod:`sluice.lake.apply`) resolves a run's rows one group of
buckets at a time, so what it holds at once is one group's rows, not the
run's nor the table's. :func:`key_buckets` gives every row the bucket of its
key (the same on the incoming rows and on the table's, once both are cast to
the lake schema); a :class:`Spill` collects rows by bucket: in memory while
they fit in its budget, then as Arrow IPC files (one record batch per bucket,
read back memory-mapped); :func:`pack` forms the groups.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import ipc

from sluice.lake.changes import LSN_COLUMN, TRUNCATE_OP, UNCHANGED_COLUMN, ops
from sluice.lake.resolve import aligned
from sluice.validate.chunk import BATCH_COL
from sluice.validate.contracts import DELETE_OP, OP_COLUMN

# Buckets a run's keys are hashed into: a group is one or more whole buckets,
# so one bucket (1/BUCKETS of the run's rows and of the rows of the files they
# touch) is the smallest unit held in memory.
BUCKETS = 256
_MIX = np.uint64(0x9E3779B97F4A7C15)


def _column_hash(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    kind = array.type
    if pa.types.is_timestamp(kind) or pa.types.is_date64(kind) or pa.types.is_duration(kind):
        array = array.view(pa.int64())
    elif pa.types.is_date32(kind) or pa.types.is_time32(kind):
        array = array.view(pa.int32())
    elif pa.types.is_time64(kind):
        array = array.view(pa.int64())
    elif pa.types.is_decimal(kind) or pa.types.is_dictionary(kind):
        array = array.cast(pa.string())
    if pa.types.is_integer(array.type) or pa.types.is_boolean(array.type):
        values = pc.fill_null(array.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
    elif pa.types.is_floating(array.type):
        values = pc.fill_null(array.cast(pa.float64()), 0.0).to_numpy(zero_copy_only=False)
    else:
        values = pc.fill_null(array.cast(pa.string()), "").to_numpy(zero_copy_only=False)
    hashed: np.ndarray = pd.util.hash_array(values, categorize=False)
    return hashed


def key_buckets(rows: pa.Table, keys: list[str], buckets: int = BUCKETS) -> np.ndarray:
    """The bucket (``0 <= b < buckets``) of each row's key; equal keys of equal types share a bucket."""
    mixed = np.zeros(rows.num_rows, dtype=np.uint64)
    for name in keys:
        mixed = (mixed * _MIX) ^ _column_hash(rows.column(name))
    return (mixed % np.uint64(buckets)).astype(np.int32)


@dataclass
class _Flushed:
    path: Path
    batches: dict[int, int]  # bucket -> record batch index in the file


@dataclass
class Spill:
    """Rows of one schema by bucket: buffered in memory up to ``budget`` bytes, then flushed to ``folder``."""

    schema: pa.Schema
    folder: Path
    budget: int
    buckets: int = BUCKETS
    sizes: np.ndarray = field(init=False)  # bytes per bucket, for packing groups
    rows: np.ndarray = field(init=False)
    _buffer: list[tuple[np.ndarray, pa.Table]] = field(default_factory=list, init=False)
    _buffered: int = field(default=0, init=False)
    _files: list[_Flushed] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.sizes = np.zeros(self.buckets, dtype=np.int64)
        self.rows = np.zeros(self.buckets, dtype=np.int64)

    @property
    def spilled(self) -> bool:
        return bool(self._files)

    def add(self, table: pa.Table, bucket: np.ndarray) -> None:
        """Add ``table``'s rows (in this spill's schema), row ``i`` to bucket ``bucket[i]``."""
        if table.num_rows == 0:
            return
        counts = np.bincount(bucket, minlength=self.buckets)
        self.rows += counts
        self.sizes += (counts * (table.nbytes / table.num_rows)).astype(np.int64)
        self._buffer.append((bucket, table))
        self._buffered += table.nbytes
        if self._buffered > self.budget:
            self._flush()

    def _flush(self) -> None:
        bucket = np.concatenate([b for b, _ in self._buffer])
        table = pa.concat_tables([t for _, t in self._buffer])
        self._buffer, self._buffered = [], 0
        order = np.argsort(bucket, kind="stable")
        ordered, sorted_buckets = table.take(pa.array(order)).combine_chunks(), bucket[order]
        starts = np.flatnonzero(np.r_[True, sorted_buckets[1:] != sorted_buckets[:-1]])
        ends = np.r_[starts[1:], len(sorted_buckets)]
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"spill-{len(self._files):05d}.arrow"
        index = {}
        with pa.OSFile(str(path), "wb") as sink, ipc.new_file(sink, self.schema) as writer:
            for i, (start, end) in enumerate(zip(starts, ends, strict=True)):
                index[int(sorted_buckets[start])] = i
                writer.write_table(ordered.slice(int(start), int(end - start)), max_chunksize=int(end - start))
        self._files.append(_Flushed(path, index))

    def read(self, group: list[int]) -> pa.Table:
        """The rows of the buckets in ``group`` (memory-mapped where they were flushed)."""
        wanted = np.array(group, dtype=np.int32)
        parts = [t.filter(pa.array(np.isin(b, wanted))) for b, t in self._buffer]
        for flushed in self._files:
            reader = ipc.open_file(pa.memory_map(str(flushed.path)))
            parts.extend(
                pa.Table.from_batches([reader.get_batch(flushed.batches[g])], self.schema)
                for g in group
                if g in flushed.batches
            )
        return pa.concat_tables(parts) if parts else self.schema.empty_table()


def pack(sizes: np.ndarray, budget: int, links: list[tuple[int, int]] | None = None) -> Iterator[list[int]]:
    """Groups of non-empty buckets, each within ``budget`` bytes unless one bucket alone exceeds it.

    Buckets joined by ``links`` (pairs of buckets) are always in the same group.
    """
    parent = list(range(len(sizes)))

    def root(b: int) -> int:
        while parent[b] != b:
            parent[b] = parent[parent[b]]
            b = parent[b]
        return b

    for a, b in links or []:
        parent[root(a)] = root(b)
    units: dict[int, list[int]] = {}
    for found in np.flatnonzero(sizes > 0).tolist():
        units.setdefault(root(found), []).append(found)
    group: list[int] = []
    held = 0
    for unit in units.values():
        size = int(sizes[unit].sum())
        if group and held + size > budget:
            yield group
            group, held = [], 0
        group += unit
        held += size
    if group:
        yield group


def input_schema(schema: pa.Schema) -> pa.Schema:
    """The lake schema and the change columns resolving reads from incoming rows (:mod:`sluice.lake.changes`)."""
    for name, kind in [(OP_COLUMN, pa.string()), (UNCHANGED_COLUMN, pa.string()), (LSN_COLUMN, pa.int64())]:
        if name not in schema.names:
            schema = schema.append(pa.field(name, kind))
    return schema


@dataclass
class Incoming:
    """A run's rows by key bucket, its TRUNCATEs (every group gets them), and the buckets key changes join."""

    spill: Spill
    truncates: pa.Table
    rows: int
    links: list[tuple[int, int]]


def collect(parts: Iterable[pa.Table], done: tuple[str, ...], keys: list[str], spill: Spill) -> Incoming:
    """Read the run's rows once, leaving out those of ``done`` batches, into ``spill`` by key bucket."""
    truncates, changes, count = [], [], 0
    for given in parts:
        kept = (
            given.filter(pc.invert(pc.is_in(given.column(BATCH_COL), pa.array(done, pa.string())))) if done else given
        )
        if kept.num_rows == 0:
            continue
        part = aligned(kept, spill.schema)
        count += part.num_rows
        cleared = ops(part, TRUNCATE_OP)
        if cleared.any():
            truncates.append(part.filter(pa.array(cleared)))
            part = part.filter(pa.array(~cleared))
        bucket = key_buckets(part, keys)
        spill.add(part, bucket)
        has_lsn = pc.is_valid(part.column(LSN_COLUMN)).to_numpy(zero_copy_only=False)
        moves = (ops(part, DELETE_OP) | ops(part, "u")) & np.asarray(has_lsn, dtype=bool)
        if moves.any():
            lsn = part.column(LSN_COLUMN).filter(pa.array(moves)).to_numpy()
            changes.append(pa.table({"lsn": lsn, "d": ops(part, DELETE_OP)[moves], "b": bucket[moves]}))
    held = pa.concat_tables(truncates) if truncates else spill.schema.empty_table()
    return Incoming(spill, held, count, _links(changes))


def _links(changes: list[pa.Table]) -> list[tuple[int, int]]:
    """Bucket pairs of the old and the new key of each key change (a ``d`` and a ``u`` at one ``_lsn``)."""
    if not changes:
        return []
    every = pa.concat_tables(changes)
    deletes = every.filter(every.column("d")).select(["lsn", "b"])
    updates = every.filter(pc.invert(every.column("d"))).select(["lsn", "b"]).rename_columns(["lsn", "u"])
    pairs = updates.join(deletes, keys="lsn", join_type="inner", use_threads=False)
    return sorted(set(zip(pairs.column("u").to_pylist(), pairs.column("b").to_pylist(), strict=True)))
