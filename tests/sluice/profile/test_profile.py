"""Column profiles: the figures of known columns, and a profile merged from chunks equals the one-shot profile."""

from __future__ import annotations

import itertools
import math
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.profile import ColumnState, Kind, TableState, profile_batches
from sluice.profile.hll import HyperLogLog
from sluice.profile.sample import Reservoir, priorities


def test_a_code_column_gets_its_null_rate_top_values_and_string_lengths() -> None:
    codes = pa.array(["EUR", "USD", None, "EUR", "GBPX", None, "EUR", None])
    (profile,) = profile_batches([pa.table({"currency": codes})]).columns

    assert profile.kind is Kind.STRING and profile.null_rate == 3 / 8
    assert profile.top == {"EUR": 3, "USD": 1, "GBPX": 1} and profile.distinct == 3
    assert list(profile.top_shares()) == ["EUR", "GBPX", "USD"] and profile.top_shares()["EUR"] == 3 / 5
    assert (profile.length_min, profile.length_mean, profile.length_max) == (3, 16 / 5, 4)


def test_a_string_column_past_the_code_limit_has_no_top_values_but_a_distinct_estimate() -> None:
    names = pa.array([f"customer-{i}" for i in range(10_000)])
    (profile,) = profile_batches(pa.table({"name": names}).to_batches(1_000)).columns

    assert profile.top is None and profile.top_shares() == {}
    assert profile.distinct is not None and abs(profile.distinct - 10_000) / 10_000 < 0.05


def test_a_number_column_gets_extremes_mean_and_quantiles_exactly_below_the_sample_capacity() -> None:
    values = pa.array([1, 2, 3, 4, None, 100], pa.int32())
    (profile,) = profile_batches([pa.table({"qty": values})]).columns

    assert (profile.minimum, profile.maximum, profile.nulls) == (1.0, 100.0, 1)
    assert profile.mean == pytest.approx(22.0) and profile.quantiles[0.5] == 3.0
    assert profile.stddev == pytest.approx(float(np.std([1, 2, 3, 4, 100])))


def test_nan_counts_as_null_and_decimals_as_numbers() -> None:
    table = pa.table(
        {
            "x": pa.array([1.0, float("nan"), None, 3.0]),
            "amount": pa.array([Decimal("1.50"), Decimal("2.50"), None, None], pa.decimal128(10, 2)),
        }
    )
    x, amount = profile_batches([table]).columns

    assert x.nulls == 2 and x.mean == 2.0
    assert amount.kind is Kind.NUMBER and amount.mean == 2.0 and amount.null_rate == 0.5


def test_an_all_null_and_an_empty_column_profile_to_zeros_without_figures() -> None:
    table = pa.table({"t": pa.array([None, None], pa.timestamp("us", "UTC")), "s": pa.array([None, None], pa.string())})
    t, s = profile_batches([table]).columns
    (empty,) = profile_batches([pa.table({"e": pa.array([], pa.float64())})]).columns

    assert (t.null_rate, t.distinct, t.minimum) == (1.0, 0, None)
    assert s.top == {} and s.length_mean is None
    assert (empty.rows, empty.null_rate, empty.mean, empty.quantiles) == (0, 0.0, None, {})


def test_timestamps_and_dates_keep_their_extremes_in_epoch_seconds() -> None:
    table = pa.table(
        {"at": pa.array([0, 86_400_000_000], pa.timestamp("us", "UTC")), "day": pa.array([1, 2], pa.date32())}
    )
    at, day = profile_batches([table]).columns

    assert (at.kind, at.minimum, at.maximum) == (Kind.TEMPORAL, 0.0, 86_400.0)
    assert (day.minimum, day.maximum) == (86_400.0, 172_800.0)


def test_a_column_first_seen_in_a_later_chunk_counts_the_earlier_rows_as_null() -> None:
    first, second = pa.table({"a": [1, 2]}), pa.table({"a": [3], "b": ["x"]})
    profile = profile_batches([first, second])

    assert profile.rows == 3 and profile.column("b") is not None
    assert profile.column("b").null_rate == pytest.approx(2 / 3)  # type: ignore[union-attr]


def test_the_distinct_sketch_merges_exactly_and_estimates_within_five_percent() -> None:
    values = pa.array(np.arange(200_000) % 50_000)
    whole, left, right = HyperLogLog(), HyperLogLog(), HyperLogLog()
    whole.add(values)
    left.add(values[:70_000])
    right.add(values[70_000:])

    assert left.merge(right).same_as(whole)
    assert abs(whole.estimate() - 50_000) / 50_000 < 0.05


def test_the_sample_keeps_at_most_its_capacity_and_the_quantiles_of_a_uniform_sample() -> None:
    sample = Reservoir(capacity=2_000)
    for start in range(0, 100_000, 10_000):
        sample.add(np.arange(start, start + 10_000, dtype=float), priorities(start, 10_000))

    assert len(sample.values) == 2_000
    assert abs(sample.quantiles((0.5,))[0.5] - 50_000) < 5_000


text = st.one_of(
    st.none(),
    st.sampled_from(["EUR", "USD", "", "\x00", "é"]),
    st.text(max_size=20),
    st.text(min_size=5_000, max_size=6_000, alphabet="ab\U0001f600"),
)
number = st.one_of(st.none(), st.just(float("nan")), st.floats(min_value=-1e12, max_value=1e12))


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    strings=st.lists(text, max_size=60),
    numbers=st.lists(number, max_size=60),
    cuts=st.lists(st.integers(0, 60), max_size=4),
)
def test_a_profile_merged_from_chunks_equals_the_one_shot_profile(
    strings: list[str | None], numbers: list[float | None], cuts: list[int]
) -> None:
    size = min(len(strings), len(numbers))
    table = pa.table({"s": pa.array(strings[:size], pa.string()), "n": pa.array(numbers[:size], pa.float64())})
    bounds = sorted({0, size, *(min(c, size) for c in cuts)})
    chunks = [table.slice(a, b - a) for a, b in itertools.pairwise(bounds)] or [table]
    states = []
    for chunk in chunks:
        state = TableState()
        state.update(chunk)
        states.append(state)
    merged = TableState()
    for state in states:
        merged = merged.merge(state)

    one_shot, sequential = profile_batches([table]), profile_batches(chunks)
    for name in ("s", "n"):
        want = one_shot.column(name)
        for got in (merged.finish().column(name), sequential.column(name)):
            assert got is not None and want is not None
            for attr in ("rows", "nulls", "distinct", "minimum", "maximum", "mean", "stddev", "quantiles", "top"):
                assert _same(getattr(got, attr), getattr(want, attr)), (name, attr)
            assert (got.length_min, got.length_max) == (want.length_min, want.length_max)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.none(), st.binary(max_size=30)), max_size=30))
def test_binary_columns_profile_their_nulls_without_raising(values: list[bytes | None]) -> None:
    state = ColumnState.for_field(pa.field("b", pa.binary()))
    state.update(pa.array(values, pa.binary()))

    profile = state.finish()
    assert profile.kind is Kind.OTHER and profile.nulls == values.count(None) and profile.distinct is None


def test_nested_columns_count_rows_and_nulls_and_dictionary_codes_count_as_strings() -> None:
    table = pa.table(
        {
            "items": pa.array([[1, 2], None, []], pa.list_(pa.int64())),
            "address": pa.array([{"city": "Berlin"}, None, None]),
            "status": pa.array(["new", "new", None]).dictionary_encode(),
        }
    )
    items, address, status = profile_batches([table]).columns

    assert (items.kind, items.nulls, items.distinct) == (Kind.OTHER, 1, None)
    assert address.kind is Kind.OTHER and address.null_rate == pytest.approx(2 / 3)
    assert status.kind is Kind.STRING and status.top == {"new": 2}


@settings(max_examples=60, deadline=None)
@given(
    numbers=st.lists(st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1)), min_size=1, max_size=60),
    cuts=st.lists(st.integers(0, 60), max_size=4),
    kinds=st.lists(st.sampled_from([pa.int32(), pa.int64(), pa.float64()]), min_size=5, max_size=5),
    dropped=st.lists(st.booleans(), min_size=5, max_size=5),
)
def test_mixed_chunks_of_other_widths_or_without_the_column_profile_as_the_whole_table(
    numbers: list[int | None], cuts: list[int], kinds: list[pa.DataType], dropped: list[bool]
) -> None:
    """Chunks whose numbers come as int32, int64 or float64, and chunks that lack a column, as one table."""
    labels = [None if n is None else f"c{n % 3}" for n in numbers]
    bounds = sorted({0, len(numbers), *(min(c, len(numbers)) for c in cuts)})
    chunks: list[pa.Table] = []
    whole_labels: list[str | None] = []
    for i, (a, b) in enumerate(itertools.pairwise(bounds)):
        part = {"n": pa.array(numbers[a:b], pa.int64()).cast(kinds[i])}
        if not dropped[i] or i == 0:
            part["s"] = pa.array(labels[a:b], pa.string())
        whole_labels += labels[a:b] if "s" in part else [None] * (b - a)
        chunks.append(pa.table(part))
    whole = pa.table({"n": pa.array(numbers, pa.int64()), "s": pa.array(whole_labels, pa.string())})

    one_shot, chunked = profile_batches([whole]), profile_batches(chunks)

    for name in ("n", "s"):
        want, got = one_shot.column(name), chunked.column(name)
        assert want is not None and got is not None
        for attr in ("rows", "nulls", "distinct", "minimum", "maximum", "mean", "quantiles", "top"):
            assert _same(getattr(got, attr), getattr(want, attr)), (name, attr)
