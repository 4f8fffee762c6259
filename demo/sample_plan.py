"""The plan behind the sample files: counter-based random numbers and which row is what.

:class:`Rand` gives the same number for a (stream, row position) whatever the
chunking; :class:`Plan` decides from it which rows are valid, bad, warned or
duplicates of an earlier valid row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa

_M1, _M2, _GOLDEN = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB), np.uint64(0x9E3779B97F4A7C15)


Problem = tuple[str | None, float, list[str | None]]  # column (None: malformed record), weight, values


@dataclass(frozen=True)
class Spec:
    """A dataset's sample recipe: its columns, how to render them, and the problems to plant."""

    name: str
    columns: list[str]
    render: Callable[[Plan, np.ndarray], dict[str, pa.Array]]
    bad: dict[str, Problem]
    warn: dict[str, Problem]
    json_numeric: frozenset[str]
    parquet_fallback: str  # the bad kind used instead of "malformed" in Parquet files


class Rand:
    """Counter-based random numbers: the value for (stream, index) never depends on chunking."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def uniform(self, stream: str, idx: np.ndarray) -> np.ndarray:
        key = hashlib.blake2b(f"{self.seed}/{stream}".encode(), digest_size=8).digest()
        x = idx.astype(np.uint64) * _GOLDEN + np.uint64(int.from_bytes(key, "little"))
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
        return ((x ^ (x >> np.uint64(31))) >> np.uint64(11)).astype(np.float64) * 2.0**-53

    def pick(self, stream: str, idx: np.ndarray, weights: Sequence[float]) -> np.ndarray:
        cum = np.cumsum(weights, dtype=np.float64)
        return np.minimum(np.searchsorted(cum / cum[-1], self.uniform(stream, idx), side="right"), len(cum) - 1)

    def choice(
        self, stream: str, idx: np.ndarray, values: Sequence[str | None], weights: Sequence[float] | None = None
    ) -> pa.Array:
        chosen = self.pick(stream, idx, weights or [1.0] * len(values))
        return pa.array(values, pa.string()).take(pa.array(chosen))

    def normal(self, stream: str, idx: np.ndarray) -> np.ndarray:
        u1, u2 = 1.0 - self.uniform(stream + "/1", idx), self.uniform(stream + "/2", idx)
        return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


class Plan:
    """Which row is what: kinds of originals, duplicates and their sources."""

    def __init__(
        self,
        spec: Spec,
        rows: int,
        fmts: list[str],
        *,
        seed: int,
        bad_fraction: float,
        duplicate_fraction: float,
        warning_fraction: float,
        days: int,
        start: datetime,
        id_offset: int,
    ) -> None:
        self.rand, self.rows, self.dup_fraction = Rand(seed), rows, duplicate_fraction
        self.start, self.span, self.id_offset = int(start.timestamp()), days * 86_400, id_offset
        files = len(fmts)
        self.bounds = np.array([rows * i // files for i in range(files + 1)], dtype=np.int64)
        self.names = ["valid", *spec.bad, *spec.warn]
        self.n_bad = len(spec.bad)
        shares = [bad_fraction * w / sum(p[1] for p in spec.bad.values()) for _c, w, _v in spec.bad.values()]
        shares += [warning_fraction * w / sum(p[1] for p in spec.warn.values()) for _c, w, _v in spec.warn.values()]
        self.cum = np.cumsum(shares)
        self.parquet = np.array([f == "parquet" for f in fmts])
        self.malformed = self.names.index("malformed")
        self.fallback = self.names.index(spec.parquet_fallback)

    def kind(self, q: np.ndarray) -> np.ndarray:
        """Kind code of the originals at positions ``q``: 0 valid, then bad kinds, then warning kinds."""
        idx = np.searchsorted(self.cum, self.rand.uniform("kind", q), side="right")
        code = np.where(idx == len(self.cum), 0, idx + 1)
        in_parquet = self.parquet[np.searchsorted(self.bounds, q, side="right") - 1]
        return np.where((code == self.malformed) & in_parquet, self.fallback, code)

    def is_bad(self, code: np.ndarray) -> np.ndarray:
        return np.asarray((code >= 1) & (code <= self.n_bad))

    def _source(self, p: np.ndarray) -> np.ndarray:
        near = self.rand.uniform("near", p) < 0.6
        back = 1 + (self.rand.uniform("back", p) * np.minimum(p, 5_000)).astype(np.int64)
        far = (self.rand.uniform("far", p) * p).astype(np.int64)
        source: np.ndarray = np.where(near, p - back, far)
        return source

    def roots(self, pos: np.ndarray) -> np.ndarray:
        """The original each position emits: itself, or the earlier valid row it duplicates."""
        out = pos.copy()
        dup = (self.rand.uniform("dup", pos) < self.dup_fraction) & (pos > 0)
        if dup.any():
            src = self.roots(self._source(pos[dup]))
            out[dup] = np.where(self.is_bad(self.kind(src)), pos[dup], src)
        return out
