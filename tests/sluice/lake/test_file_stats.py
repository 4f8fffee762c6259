"""Delta stats JSON from a Parquet footer: bounds that hold for every value, nulls counted, nothing that misleads."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sluice.lake.file_stats import MAX_TEXT, file_stats, json_bound, leaf_paths

UTC = dt.timezone.utc


def stats_of(table: pa.Table, tmp_path, row_group_size: int | None = None) -> dict:
    path = tmp_path / "f.parquet"
    pq.write_table(table, path, row_group_size=row_group_size)
    return json.loads(file_stats(pq.read_metadata(path), table.schema))


def test_bounds_and_null_counts_span_every_row_group_and_nest_structs(tmp_path):
    stamps = [dt.datetime(2024, 1, 1, 0, 0, 0, 1500, tzinfo=UTC), None, dt.datetime(2024, 1, 2, 5, 0, 0, 2, tzinfo=UTC)]
    table = pa.table(
        {
            "id": [3, None, 1],
            "ts": pa.array(stamps, pa.timestamp("us", tz="UTC")),
            "day": pa.array([dt.date(2024, 1, 2), dt.date(2024, 1, 1), None]),
            "name": ["b", None, "a"],
            "info": pa.array([{"x": 5}, {"x": 7}, {"x": None}]),
            "tags": pa.array([[1], [2], None]),
        }
    )

    found = stats_of(table, tmp_path, row_group_size=1)

    assert found["numRecords"] == 3
    assert found["minValues"] == {
        "id": 1,
        "ts": "2024-01-01T00:00:00.001Z",  # rounded down to the millisecond
        "day": "2024-01-01",
        "name": "a",
        "info": {"x": 5},
    }
    assert found["maxValues"]["ts"] == "2024-01-02T05:00:00.001Z"  # rounded up: still above the value
    assert found["maxValues"]["info"] == {"x": 7} and found["maxValues"]["id"] == 3
    assert found["nullCount"] == {"id": 1, "ts": 1, "day": 1, "name": 1, "info": {"x": 1}}
    assert "tags" not in found["minValues"] and "tags" not in found["nullCount"]


def test_a_column_with_only_nulls_is_counted_without_bounds(tmp_path):
    found = stats_of(pa.table({"a": pa.array([None, None], pa.int64())}), tmp_path)
    assert found["nullCount"] == {"a": 2} and found["minValues"] == {} and found["maxValues"] == {}


@pytest.mark.parametrize(
    ("value", "up", "expected"),
    [
        (float("nan"), False, None),
        (float("inf"), True, None),
        ("x" * (MAX_TEXT + 5), False, "x" * MAX_TEXT),
        ("x" * (MAX_TEXT + 5), True, None),  # a prefix is no upper bound
        (True, False, None),
        (b"raw", False, None),
        (dt.datetime(2024, 5, 1, 12, 0, 0, 999_999), True, "2024-05-01T12:00:01.000"),
    ],
)
def test_values_json_cannot_bound_give_no_bound(value, up, expected):
    assert json_bound(value, up) == expected


def test_leaves_inside_lists_and_maps_have_no_path():
    schema = pa.schema(
        [("a", pa.int64()), ("m", pa.map_(pa.string(), pa.int64())), ("s", pa.struct([("l", pa.list_(pa.int8()))]))]
    )
    assert leaf_paths(schema) == [("a",), None, None, None]


@settings(max_examples=60, deadline=None)
@given(
    ints=st.lists(st.one_of(st.none(), st.integers(-(2**62), 2**62)), min_size=1, max_size=40),
    texts=st.lists(st.one_of(st.none(), st.text(max_size=40)), min_size=1, max_size=40),
    micros=st.lists(st.integers(0, 4_102_444_800_000_000), min_size=1, max_size=40),
    group=st.integers(1, 7),
)
def test_every_value_lies_within_the_bounds(tmp_path_factory, ints, texts, micros, group):
    n = min(len(ints), len(texts), len(micros))
    table = pa.table(
        {
            "i": pa.array(ints[:n], pa.int64()),
            "t": pa.array(texts[:n], pa.string()),
            "ts": pa.array(micros[:n], pa.timestamp("us", tz="UTC")),
        }
    )
    found = stats_of(table, tmp_path_factory.mktemp("p"), row_group_size=group)
    low, high = found["minValues"], found["maxValues"]
    assert found["numRecords"] == n
    for name in ("i", "t", "ts"):
        values = table.column(name).to_pylist()
        assert found["nullCount"][name] == sum(v is None for v in values)
        for v in (v for v in values if v is not None):
            shown = json_bound(v, False) if name == "ts" else v
            if name in low:
                assert low[name] <= (shown if name != "t" else v)
            if name in high:
                assert (json_bound(v, True) if name == "ts" else v) <= high[name]
    assert all(name in low for name in ("i", "ts") if table.column(name).null_count < n)
