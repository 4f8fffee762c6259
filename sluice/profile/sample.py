"""A bounded sample of a numeric column for its quantiles: the values of the rows with the smallest priorities.

No t-digest or KLL library is installed beside Sluice, so quantiles are
exact on a bounded sample: each row gets a pseudo-random priority (a hash
of its position in the chunk and the chunk's row offset) and the sample
keeps the ``capacity`` values of lowest priority (a bottom-k sample, which
merges by taking the bottom k of the union). Up to ``capacity`` rows every
value is kept and the quantiles are exact; beyond, they are those of a
uniform sample of ``capacity`` rows (the rank error of a quantile is about
``1 / sqrt(capacity)``, 1.1 % at the default 8,192).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CAPACITY = 8192
_MIX = np.uint64(0x9E3779B97F4A7C15)


def priorities(offset: int, count: int) -> np.ndarray:
    """The splitmix64 priorities of rows ``offset .. offset + count``."""
    with np.errstate(over="ignore"):
        z = (np.arange(offset, offset + count, dtype=np.uint64) + np.uint64(1)) * _MIX
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        mixed: np.ndarray = z ^ (z >> np.uint64(31))
    return mixed


@dataclass
class Reservoir:
    capacity: int = CAPACITY
    keys: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.uint64))
    values: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.float64))

    def add(self, values: np.ndarray, keys: np.ndarray) -> None:
        self._keep(np.concatenate([self.keys, keys]), np.concatenate([self.values, values]))

    def _keep(self, keys: np.ndarray, values: np.ndarray) -> None:
        if len(keys) > self.capacity:
            lowest = np.argpartition(keys, self.capacity - 1)[: self.capacity]
            keys, values = keys[lowest], values[lowest]
        self.keys, self.values = keys, values

    def merge(self, other: Reservoir) -> Reservoir:
        merged = Reservoir(min(self.capacity, other.capacity))
        merged._keep(np.concatenate([self.keys, other.keys]), np.concatenate([self.values, other.values]))
        return merged

    def quantiles(self, qs: tuple[float, ...]) -> dict[float, float]:
        if len(self.values) == 0:
            return {}
        found = np.quantile(self.values, qs, method="linear")
        return {q: float(v) for q, v in zip(qs, found, strict=True)}
