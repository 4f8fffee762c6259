"""Parquet: the file's own types are cast by the contract; a value that cannot be is quarantined, never the run."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, Phase, given, reject, settings
from hypothesis import strategies as st

from sluice.formats import open_reader
from sluice.sources.files import list_source_files
from sluice.validate.chunk import BatchContext, validate_chunk
from sluice.validate.contracts import parse_contract

CONTRACT = parse_contract("""
name: events
owner: data@sluice.example
freshness_sla: 1d
source_timezone: Europe/Berlin
primary_key: [id]
partition: {column: ts}
columns:
  - {name: id, type: int64}
  - {name: ts, type: timestamp}
  - {name: note, type: string, nullable: true}
  - {name: score, type: float64, nullable: true, criticality: warning}
""")
CTX = BatchContext("events", "run-1", "batch-1", "/in/e.parquet", date(2024, 3, 6))


def _land(path: Path, table: pa.Table):
    pq.write_table(table, path)
    src = list_source_files(str(path.parent), path.name)[0]
    results = [
        validate_chunk(c, CONTRACT, CTX)
        for c in open_reader(src, CONTRACT.column_names, encoding=None, chunk_rows=1000).chunks()
    ]
    valid = pa.concat_tables([r.valid for r in results])
    quarantine = pa.concat_tables([r.quarantine for r in results])
    warnings = sum((r.warnings for r in results), start=__import__("collections").Counter())
    return valid, quarantine, warnings


def test_nanosecond_timestamps_are_truncated_to_microseconds_with_a_counted_warning(tmp_path):
    ts = np.array(["2024-10-01T03:39:15.123456789", "2024-10-01T03:39:15"], dtype="datetime64[ns]")
    table = pa.table(
        {"id": [1, 2], "ts": pa.array(ts).cast(pa.timestamp("ns", tz="UTC")), "note": ["a", "b"], "score": [0.5, None]}
    )
    valid, quarantine, warnings = _land(tmp_path / "e.parquet", table)
    assert [v.isoformat() for v in valid.column("ts").to_pylist()] == [
        "2024-10-01T03:39:15.123456+00:00",
        "2024-10-01T03:39:15+00:00",
    ]
    assert quarantine.num_rows == 0 and warnings == {"ts:truncated_to_microseconds": 1}


def test_a_struct_in_a_string_column_is_quarantined_as_wrong_type_naming_the_file_type(tmp_path):
    table = pa.table(
        {
            "id": [1, 2],
            "ts": pa.array([1, 2], pa.timestamp("s", tz="UTC")),
            "note": pa.array([{"x": 1}, None], pa.struct([("x", pa.int64())])),
            "score": pa.array(["0.5", "abc"]),
        }
    )
    valid, quarantine, warnings = _land(tmp_path / "e.parquet", table)
    assert valid.column("id").to_pylist() == [2]
    entry = quarantine.to_pylist()[0]
    assert (entry["reason"], entry["column"], entry["value"]) == ("wrong_type", "note", '{"x": 1}')
    assert "struct<x: int64>" in entry["check"]
    assert dict(entry["record"])["note"] == '{"x": 1}'
    assert warnings == {"score:unparseable_float": 1} and valid.column("_warnings").to_pylist() == ['{"score": "abc"}']


def test_naive_file_timestamps_are_read_in_the_source_zone_and_aware_ones_kept(tmp_path):
    table = pa.table(
        {
            "id": [1],
            "ts": pa.array([np.datetime64("2024-10-01T03:39:15", "us")]),
            "note": ["a"],
            "score": pa.array([1], pa.int32()),
        }
    )
    valid, _, _ = _land(tmp_path / "e.parquet", table)
    assert valid.column("ts")[0].as_py().isoformat() == "2024-10-01T01:39:15+00:00"
    assert valid.column("score").to_pylist() == [1.0]


_SCALARS = st.sampled_from(
    [
        pa.int8(),
        pa.int64(),
        pa.uint64(),
        pa.float32(),
        pa.float64(),
        pa.bool_(),
        pa.string(),
        pa.binary(),
        pa.date32(),
        pa.timestamp("s"),
        pa.timestamp("ns", tz="UTC"),
        pa.timestamp("ms", tz="Asia/Kolkata"),
        pa.decimal128(10, 3),
    ]
)
_TYPES = st.one_of(
    _SCALARS,
    _SCALARS.map(pa.list_),
    _SCALARS.map(lambda t: pa.struct([("f", t)])),
    _SCALARS.map(lambda t: pa.map_(pa.string(), t)),
)


@settings(
    max_examples=40,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_parquet_schema_and_values_land_or_are_quarantined_with_a_reason(tmp_path, data):
    n = data.draw(st.integers(1, 6))
    cols = {}
    for name in CONTRACT.column_names:
        kind = data.draw(_TYPES)
        cols[name] = data.draw(_arrow_values(kind, n))
    path = tmp_path / "e.parquet"
    try:
        pq.write_table(pa.table(cols), path)
    except pa.ArrowInvalid:  # a value Parquet itself cannot store (seconds past the millisecond range)
        reject()
    valid, quarantine, _ = _land(path, pa.table(cols))
    assert valid.num_rows + quarantine.num_rows == n
    assert all(r for r in quarantine.column("reason").to_pylist())


def _arrow_values(kind: pa.DataType, n: int) -> st.SearchStrategy[pa.Array]:
    leaf = kind
    while pa.types.is_nested(leaf):
        leaf = (
            leaf.value_type
            if hasattr(leaf, "value_type") and not pa.types.is_map(leaf)
            else leaf.item_type
            if pa.types.is_map(leaf)
            else leaf.field(0).type
        )
    values = {
        "int": st.integers(-(2**63), 2**63 - 1),
        "float": st.floats(allow_nan=True, allow_infinity=True),
        "bool": st.booleans(),
        "text": st.text(max_size=8),
        "bytes": st.binary(max_size=8),
        "day": st.integers(-700_000, 2_900_000),
        "stamp": st.integers(-(2**62), 2**62),
    }
    pick = (
        "bool"
        if pa.types.is_boolean(leaf)
        else "int"
        if pa.types.is_integer(leaf)
        else "float"
        if pa.types.is_floating(leaf)
        else "text"
        if pa.types.is_string(leaf)
        else "bytes"
        if pa.types.is_binary(leaf)
        else "day"
        if pa.types.is_date(leaf)
        else "stamp"
        if pa.types.is_timestamp(leaf)
        else "int"
    )

    def build(raw: list) -> pa.Array:
        try:
            base = pa.array(raw, leaf if pick not in ("day", "stamp") else pa.int64(), from_pandas=False)
            if pick == "day":
                base = base.cast(pa.int32()).view(leaf)
            elif pick == "stamp":
                base = base.view(leaf)
        except (pa.ArrowInvalid, OverflowError, pa.ArrowTypeError):
            base = pa.nulls(len(raw), leaf)
        if pa.types.is_list(kind):
            return pa.ListArray.from_arrays(pa.array(np.arange(len(raw) + 1, dtype=np.int32)), base)
        if pa.types.is_struct(kind):
            return pa.StructArray.from_arrays([base], ["f"])
        if pa.types.is_map(kind):
            keys = pa.array([f"k{i}" for i in range(len(raw))])
            return pa.MapArray.from_arrays(pa.array(np.arange(len(raw) + 1, dtype=np.int32)), keys, base)
        return base

    return st.lists(st.one_of(st.none(), values[pick]), min_size=n, max_size=n).map(build)
