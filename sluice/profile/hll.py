"""A HyperLogLog distinct counter over 64-bit hashes of Arrow values.

Apache DataSketches' Python package (``datasketches``) updates its sketches
one value per Python call, which row by row is far slower than a chunk's
profile may take; so this is a plain HyperLogLog (Flajolet et al., 2007),
vectorised over a chunk in numpy, with the small-range correction (linear
counting). Values are hashed
by pandas' vectorised ``hash_array`` (SipHash for strings, a mixing function
for numbers); a register is the longest run of leading zeros seen in its
bucket, so merging two sketches is the element-wise maximum and is exact: a
sketch merged from chunks equals the sketch of all rows at once. With
``2**12`` registers the relative standard error is about 1.6 %.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

PRECISION = 12
REGISTERS = 1 << PRECISION
TAIL_BITS = 64 - PRECISION


def hash_values(values: pa.Array) -> np.ndarray:
    """A uint64 hash per non-null value of ``values`` (nulls dropped); any type that casts to a string."""
    present = values.drop_null()
    if len(present) == 0:
        return np.empty(0, dtype=np.uint64)
    if pa.types.is_dictionary(present.type):
        present = present.dictionary_decode()
    if pa.types.is_floating(present.type):
        present = present.cast(pa.float64())  # -0.0 and 0.0 hash alike below
    if not (pa.types.is_integer(present.type) or pa.types.is_floating(present.type)):
        present = present.cast(pa.large_string())
    array = present.to_numpy(zero_copy_only=False)
    if array.dtype.kind == "f":
        array = array + 0.0
    hashed: np.ndarray = pd.util.hash_array(array, categorize=False)
    return hashed.astype(np.uint64, copy=False)


def _bit_length(values: np.ndarray) -> np.ndarray:
    """The bit length of each uint64, exactly (each 32-bit half fits a float64 without rounding)."""
    high = (values >> np.uint64(32)).astype(np.float64)
    low = (values & np.uint64(0xFFFFFFFF)).astype(np.float64)
    high_len = np.frexp(high)[1]
    low_len = np.frexp(low)[1]
    lengths: np.ndarray = np.where(high > 0, 32 + high_len, low_len)
    return lengths


@dataclass(eq=False)
class HyperLogLog:
    registers: np.ndarray = field(default_factory=lambda: np.zeros(REGISTERS, dtype=np.uint8))

    def add_hashes(self, hashes: np.ndarray) -> None:
        if len(hashes) == 0:
            return
        bucket = (hashes >> np.uint64(TAIL_BITS)).astype(np.intp)
        tail = hashes & np.uint64((1 << TAIL_BITS) - 1)
        rank = (TAIL_BITS - _bit_length(tail) + 1).astype(np.uint8)
        np.maximum.at(self.registers, bucket, rank)

    def add(self, values: pa.Array) -> None:
        self.add_hashes(hash_values(values))

    def merge(self, other: HyperLogLog) -> HyperLogLog:
        return HyperLogLog(np.maximum(self.registers, other.registers))

    def estimate(self) -> float:
        """The estimated number of distinct values added."""
        m = float(REGISTERS)
        alpha = 0.7213 / (1 + 1.079 / m)
        raw = alpha * m * m / float(np.sum(np.ldexp(1.0, -self.registers.astype(np.int64))))
        empty = int(np.count_nonzero(self.registers == 0))
        if raw <= 2.5 * m and empty:
            return m * float(np.log(m / empty))
        return raw

    def same_as(self, other: HyperLogLog) -> bool:
        return bool(np.array_equal(self.registers, other.registers))
