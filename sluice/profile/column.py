"""One column's profile: its mergeable state, fed one Arrow chunk at a time, and the figures it ends in.

Every column counts rows and nulls and feeds its distinct-value sketch.
Numbers (integers, floats, decimals) keep min, max, a running mean and
variance (Chan's parallel formulas, so merging is exact up to rounding) and
a bounded sample for quantiles; dates and timestamps keep min and max (as
epoch seconds); strings keep their length min/mean/max and, while they have
at most :data:`TOP_LIMIT` distinct values, every value's count (top values
of codes). Booleans keep the share of ``true``. Floats' NaN counts as null.
Nested and binary columns count rows and nulls only.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sluice.profile.hll import HyperLogLog
from sluice.profile.sample import Reservoir, priorities

TOP_LIMIT = 64  # distinct values a string column may have and still be profiled as codes
TOP_SHOWN = 10
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


class Kind(enum.StrEnum):
    NUMBER = "number"
    TEMPORAL = "temporal"
    STRING = "string"
    BOOLEAN = "boolean"
    OTHER = "other"


def kind_of(kind: pa.DataType) -> Kind:
    if pa.types.is_dictionary(kind):
        return kind_of(kind.value_type)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return Kind.NUMBER
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        return Kind.TEMPORAL
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return Kind.STRING
    if pa.types.is_boolean(kind):
        return Kind.BOOLEAN
    return Kind.OTHER


@dataclass(frozen=True)
class ColumnProfile:
    """What a column's rows looked like; figures a kind has no meaning for are ``None``."""

    name: str
    type: str
    kind: Kind
    rows: int
    nulls: int
    distinct: float | None  # None for nested and binary columns
    minimum: float | None = None
    maximum: float | None = None
    mean: float | None = None
    stddev: float | None = None
    quantiles: dict[float, float] = field(default_factory=dict)
    top: dict[str, int] | None = None  # every value's count for codes; None past TOP_LIMIT distinct values
    length_min: int | None = None
    length_mean: float | None = None
    length_max: int | None = None
    true_share: float | None = None

    @property
    def null_rate(self) -> float:
        return self.nulls / self.rows if self.rows else 0.0

    def top_shares(self, limit: int = TOP_SHOWN) -> dict[str, float]:
        """The shares of the most frequent values among the non-null rows, most frequent first."""
        if not self.top:
            return {}
        present = self.rows - self.nulls
        ranked = sorted(self.top.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
        return {value: count / present for value, count in ranked}


def _numbers(values: pa.Array) -> pa.Array:
    """``values`` as float64; decimals and integers alike."""
    return values if values.type == pa.float64() else pc.cast(values, pa.float64(), safe=False)


def _seconds(values: pa.Array) -> pa.Array:
    if pa.types.is_date(values.type):
        values = pc.cast(values, pa.timestamp("s"))
    return pc.divide(pc.cast(pc.cast(values, pa.timestamp("us", values.type.tz)), pa.int64()), 1e6)


@dataclass
class ColumnState:
    """The mergeable state of one column; ``update`` with chunks in order, ``merge`` states of disjoint rows."""

    name: str
    type: str
    kind: Kind
    rows: int = 0
    nulls: int = 0
    sketch: HyperLogLog = field(default_factory=HyperLogLog)
    minimum: float | None = None
    maximum: float | None = None
    count: int = 0  # non-null values behind mean and m2 (numbers) or lengths (strings) or trues (booleans)
    mean: float = 0.0
    m2: float = 0.0
    sample: Reservoir = field(default_factory=Reservoir)
    top: dict[str, int] | None = field(default_factory=dict)
    length_min: int | None = None
    length_max: int | None = None
    length_sum: int = 0
    trues: int = 0

    @classmethod
    def for_field(cls, column: pa.Field) -> ColumnState:
        return cls(column.name, str(column.type), kind_of(column.type))

    def update(self, values: pa.Array | pa.ChunkedArray) -> None:
        chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
        for chunk in chunks:
            self._update(chunk.dictionary_decode() if pa.types.is_dictionary(chunk.type) else chunk)

    def _update(self, values: pa.Array) -> None:
        offset = self.rows
        if self.kind is Kind.NUMBER:
            values = _numbers(values)
            values = pc.if_else(pc.is_nan(values), pa.scalar(None, pa.float64()), values)
        self.rows += len(values)
        self.nulls += values.null_count
        present = values.drop_null()
        if self.kind is not Kind.OTHER:  # nested and binary values have no vectorised hash: no distinct count
            self.sketch.add(present)
        if len(present) == 0:
            return
        if self.kind is Kind.NUMBER:
            self._numbers(values, present, offset)
        elif self.kind is Kind.TEMPORAL:
            self._extremes(_seconds(present))
        elif self.kind is Kind.STRING:
            self._strings(present)
        elif self.kind is Kind.BOOLEAN:
            self.count += len(present)
            self.trues += int(pc.sum(pc.cast(present, pa.int64())).as_py() or 0)

    def _extremes(self, present: pa.Array) -> None:
        low, high = pc.min_max(present).values()
        low_f, high_f = float(low.as_py()), float(high.as_py())
        self.minimum = low_f if self.minimum is None else min(self.minimum, low_f)
        self.maximum = high_f if self.maximum is None else max(self.maximum, high_f)

    def _numbers(self, values: pa.Array, present: pa.Array, offset: int) -> None:
        self._extremes(present)
        x = present.to_numpy(zero_copy_only=False)
        with np.errstate(over="ignore", invalid="ignore"):
            mean = float(np.mean(x))
            m2 = float(np.sum((x - mean) ** 2))
        self._combine(len(x), mean, m2)
        keys = priorities(offset, len(values))[~np.asarray(values.is_null().to_numpy(zero_copy_only=False))]
        self.sample.add(x, keys)

    def _combine(self, n: int, mean: float, m2: float) -> None:
        """Chan et al.'s pairwise update of count, mean and sum of squared deviations."""
        total = self.count + n
        if total == 0:
            return
        delta = mean - self.mean
        with np.errstate(over="ignore", invalid="ignore"):
            self.mean = float(np.float64(self.mean) + np.float64(delta) * n / total)
            self.m2 = float(np.float64(self.m2) + m2 + np.float64(delta) ** 2 * self.count * n / total)
        self.count = total

    def _strings(self, present: pa.Array) -> None:
        lengths = pc.utf8_length(present)
        low, high = pc.min_max(lengths).values()
        self.length_min = _least(self.length_min, int(low.as_py()))
        self.length_max = _most(self.length_max, int(high.as_py()))
        self.length_sum += int(pc.sum(lengths).as_py())
        self.count += len(present)
        if self.top is None:
            return
        counts = pc.value_counts(present)
        if len(counts) > TOP_LIMIT:
            self.top = None
            return
        found = dict(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True))
        self.top = _merged_top(self.top, found)

    def merge(self, other: ColumnState) -> ColumnState:
        """The state of both states' rows (the other column must have the same name and kind)."""
        merged = ColumnState(self.name, self.type, self.kind, self.rows + other.rows, self.nulls + other.nulls)
        merged.sketch = self.sketch.merge(other.sketch)
        merged.minimum = _least_f(self.minimum, other.minimum)
        merged.maximum = _most_f(self.maximum, other.maximum)
        if self.kind is Kind.NUMBER:
            merged.count, merged.mean, merged.m2 = self.count, self.mean, self.m2
            merged._combine(other.count, other.mean, other.m2)
        else:
            merged.count = self.count + other.count
        merged.sample = self.sample.merge(other.sample)
        both = None if self.top is None or other.top is None else _merged_top(self.top, other.top)
        merged.top = both
        merged.length_min = _least(self.length_min, other.length_min)
        merged.length_max = _most(self.length_max, other.length_max)
        merged.length_sum, merged.trues = self.length_sum + other.length_sum, self.trues + other.trues
        return merged

    def finish(self) -> ColumnProfile:
        number, string = self.kind is Kind.NUMBER, self.kind is Kind.STRING
        has = self.count > 0
        return ColumnProfile(
            self.name,
            self.type,
            self.kind,
            self.rows,
            self.nulls,
            None if self.kind is Kind.OTHER else round(self.sketch.estimate()) if self.rows > self.nulls else 0.0,
            self.minimum,
            self.maximum,
            self.mean if number and has else None,
            math.sqrt(max(self.m2, 0.0) / self.count) if number and has else None,
            self.sample.quantiles(QUANTILES) if number else {},
            dict(self.top) if string and self.top is not None else None,
            self.length_min,
            self.length_sum / self.count if string and has else None,
            self.length_max,
            self.trues / self.count if self.kind is Kind.BOOLEAN and has else None,
        )


def _merged_top(left: dict[str, int], right: dict[str, int]) -> dict[str, int] | None:
    merged = dict(left)
    for value, count in right.items():
        merged[value] = merged.get(value, 0) + count
    return merged if len(merged) <= TOP_LIMIT else None


def _least(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _most(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


def _least_f(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _most_f(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)
