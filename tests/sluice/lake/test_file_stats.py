"""Delta stats JSON from a Parquet footer: bounds that hold for every value, nulls counted, nothing that misleads."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake
from deltalake.transaction import AddAction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.lake.file_stats import MAX_TEXT, file_stats, json_bound, leaf_paths, successor

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
        ("x" * (MAX_TEXT + 5), True, "x" * (MAX_TEXT - 1) + "y"),  # the prefix's successor
        (True, False, True),
        (b"raw", False, None),
        (dt.datetime(2024, 5, 1, 12, 0, 0, 999_999), True, "2024-05-01T12:00:01.000"),
    ],
)
def test_values_are_bounded_in_json_or_not_at_all(value, up, expected):
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


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [("ab", "ac"), ("a\U0010ffff", "b"), ("a\ud7ff", "a\ue000"), ("\U0010ffff\U0010ffff", None), ("", None)],
)
def test_the_successor_of_a_prefix_is_above_every_string_it_starts(prefix, expected):
    assert successor(prefix) == expected
    if expected is not None:
        for tail in ("", "\U0010ffff" * 3, "zzz"):
            assert (prefix + tail).encode() < expected.encode()


def test_a_file_with_a_column_that_cannot_be_bounded_keeps_its_row_count_only(tmp_path):
    table = pa.table({"id": [1, 2], "raw": pa.array([b"x", b"y"]), "f": [1.0, float("inf")]})
    assert stats_of(table, tmp_path) == {"numRecords": 2}
    assert stats_of(table.select(["id", "f"]), tmp_path) == {"numRecords": 2}
    assert stats_of(table.select(["id"]), tmp_path)["minValues"] == {"id": 1}


def _delta_with(tmp_path, table: pa.Table) -> DeltaTable:
    """A Delta table of one file, ``table``, committed with the stats :func:`file_stats` gives."""
    root = tmp_path / "t"
    write_deltalake(str(root), table.slice(0, 0))
    pq.write_table(table, root / "f.parquet", row_group_size=3)
    stats = file_stats(pq.read_metadata(root / "f.parquet"), table.schema)
    delta = DeltaTable(str(root))
    size = (root / "f.parquet").stat().st_size
    added = [AddAction("f.parquet", size, {}, 0, True, stats)]
    delta.create_write_transaction(added, mode="append", schema=delta.schema())
    return DeltaTable(str(root))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    texts=st.lists(st.one_of(st.none(), st.text(min_size=0, max_size=50)), min_size=1, max_size=12),
    floats=st.lists(st.one_of(st.none(), st.floats(allow_nan=False)), min_size=12, max_size=12),
)
def test_a_filter_on_any_column_finds_every_row_that_matches(tmp_path_factory, texts, floats):
    table = pa.table({"t": pa.array(texts, pa.string()), "f": pa.array(floats[: len(texts)], pa.float64())})
    delta = _delta_with(tmp_path_factory.mktemp("d"), table)
    for value in {v for v in texts if v is not None}:
        found = delta.to_pyarrow_dataset().to_table(filter=pc.field("t") == value).num_rows
        assert found == texts.count(value)
    assert delta.to_pyarrow_dataset().to_table(filter=pc.field("t").is_null()).num_rows == texts.count(None)
