"""Nested JSON mapped onto columns: paths resolved, arrays kept as lists, every wrong shape refused with a reason."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.errors import ContractError, UnreadableFileError
from sluice.formats import ColumnPaths, RawChunk, open_reader
from sluice.settings import RecordLimits
from sluice.sources.files import list_source_files
from sluice.validate.chunk import BatchContext, ChunkResult, validate_chunk
from sluice.validate.contracts import ColumnSpec, ColumnType, Contract, parse_contract

HEAD = """
name: people
owner: data@sluice.example
freshness_sla: 1d
primary_key: [id]
partition: {column: ts}
"""
COLUMNS = """
columns:
  - {name: id, type: int64}
  - {name: ts, type: timestamp}
  - {name: address_city, type: string, nullable: true}
  - {name: zip, type: string, path: address.geo.zip, nullable: true}
  - {name: tags, type: list, items: string, nullable: true}
  - {name: scores, type: list, items: int64, nullable: true}
  - {name: note, type: string, nullable: true}
"""
TS = "2024-03-05T10:00:00Z"


def people(columns: str = COLUMNS, extra: str = "") -> Contract:
    return parse_contract(HEAD + extra + columns)


def person(i: int, **fields: Any) -> dict[str, Any]:
    return {"id": i, "ts": TS, **fields}


def _write(tmp_path: Path, records: list[Any], name: str = "p.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def read(path: Path, contract: Contract, limits: RecordLimits | None = None) -> list[RawChunk]:
    src = list_source_files(str(path.parent), path.name)[0]
    reader = open_reader(
        src, contract.column_names, encoding=contract.encoding, chunk_rows=1000, paths=ColumnPaths.of(contract)
    )
    if limits is not None:
        reader.limits = limits  # type: ignore[union-attr]
    return list(reader.chunks())


def validated(path: Path, contract: Contract, limits: RecordLimits | None = None) -> list[ChunkResult]:
    ctx = BatchContext(contract.name, "run", "batch", str(path), date(2024, 3, 5))
    return [validate_chunk(c, contract, ctx) for c in read(path, contract, limits)]


def refusals(chunk: RawChunk) -> list[tuple[int, str, str, str]]:
    table = chunk.failures.table()
    return sorted(
        zip(
            table.column("row").to_pylist(),
            table.column("column").to_pylist(),
            table.column("reason").to_pylist(),
            table.column("value").to_pylist(),
            strict=True,
        )
    )


# -- contract syntax ------------------------------------------------------------------------------


def test_a_column_without_path_is_read_at_its_name_then_at_the_path_its_name_spells():
    assert ColumnSpec(name="address_city", type=ColumnType.STRING).source_paths() == [
        ("address_city",),
        ("address", "city"),
    ]
    assert ColumnSpec(name="id", type=ColumnType.INT64).source_paths() == [("id",)]
    assert ColumnSpec(name="a__b", type=ColumnType.STRING).source_paths("__") == [("a__b",), ("a", "b")]
    assert ColumnSpec(name="x", type=ColumnType.STRING, path="a.b").source_paths() == [("a", "b")]


@pytest.mark.parametrize(
    ("column", "complaint"),
    [
        ("{name: t, type: list}", "a list column needs items"),
        ("{name: t, type: list, items: list}", "a list column needs items"),
        ("{name: t, type: string, items: string}", "items applies to list columns"),
        ("{name: t, type: list, items: string, allowed_values: [a]}", "allowed_values applies to scalar"),
        ("{name: t, type: string, path: a..b}", "must be keys joined by dots"),
    ],
)
def test_a_list_or_path_that_cannot_work_is_refused_when_the_contract_loads(column, complaint):
    with pytest.raises(ContractError, match=complaint):
        people(COLUMNS + f"  - {column}\n")


def test_a_list_primary_key_and_an_unknown_nested_field_are_refused():
    with pytest.raises(ContractError, match="must be a scalar, not a list"):
        people("columns:\n  - {name: id, type: list, items: int64}\n  - {name: ts, type: timestamp}\n")
    with pytest.raises(ContractError, match="unknown field 'seperator' \\(did you mean 'separator'\\?\\)"):
        people(extra="nested: {seperator: __}\n")


# -- paths ----------------------------------------------------------------------------------------


def test_struct_fields_become_columns_by_path_and_by_flattened_name(tmp_path):
    path = _write(
        tmp_path,
        [
            person(1, address={"city": "Berlin", "geo": {"zip": "10115", "lat": 52.5}}),
            person(2, address_city="Ulm", address={"city": "ignored: the top-level key wins"}),
            person(3, address_city=None, address={"city": "Köln"}),  # null at the name: the path's value
            person(4),
        ],
    )
    (chunk,) = read(path, people())
    assert chunk.table.select(["id", "address_city", "zip"]).to_pylist() == [
        {"id": "1", "address_city": "Berlin", "zip": "10115"},
        {"id": "2", "address_city": "Ulm", "zip": None},
        {"id": "3", "address_city": "Köln", "zip": None},
        {"id": "4", "address_city": None, "zip": None},
    ]
    assert refusals(chunk) == []


def test_the_separator_of_flattened_names_is_the_contracts(tmp_path):
    contract = people(
        "columns:\n  - {name: id, type: int64}\n  - {name: ts, type: timestamp}\n"
        "  - {name: ship__city, type: string, nullable: true}\n",
        extra="nested: {separator: __}\n",
    )
    (chunk,) = read(_write(tmp_path, [person(1, ship={"city": "Bonn"})]), contract)
    assert chunk.table.column("ship__city").to_pylist() == ["Bonn"]


def test_a_declared_path_through_a_scalar_is_wrong_shape_and_a_flattened_guess_is_only_absent(tmp_path):
    path = _write(tmp_path, [person(1, address="Main St 1"), person(2, address={"geo": [1, 2]})])
    (chunk,) = read(path, people())
    assert chunk.table.column("address_city").to_pylist() == [None, None]
    assert refusals(chunk) == [(0, "zip", "wrong_shape", "Main St 1"), (1, "zip", "wrong_shape", "[1, 2]")]
    checks = chunk.failures.table().column("check").to_pylist()
    assert checks == ["shape: object at address, found scalar", "shape: object at address.geo, found array"]


def test_a_nested_value_where_a_scalar_is_expected_is_wrong_shape_and_a_json_looking_string_is_text(tmp_path):
    path = _write(
        tmp_path,
        [person(1, note={"a": 1}), person(2, note=[1]), person(3, note='{"a": 1}'), person(4, address={"city": {}})],
    )
    (chunk,) = read(path, people())
    assert chunk.table.column("note").to_pylist() == [None, None, '{"a": 1}', None]
    assert refusals(chunk) == [
        (0, "note", "wrong_shape", '{"a": 1}'),
        (1, "note", "wrong_shape", "[1]"),
        (3, "address_city", "wrong_shape", "{}"),
    ]


# -- lists ----------------------------------------------------------------------------------------


def test_arrays_are_kept_as_lists_and_every_wrong_array_is_refused_with_its_reason(tmp_path):
    path = _write(
        tmp_path,
        [
            person(1, tags=["a", "b"], scores=[1, 2, 3]),
            person(2, tags=[], scores=None),
            person(3, tags=["a", 1], scores=[[1]]),
            person(4, tags="a", scores={"x": 1}),
            person(5, tags=["x", None]),
        ],
    )
    (chunk,) = read(path, people())
    assert chunk.table.column("tags").to_pylist() == [["a", "b"], [], None, None, ["x", None]]
    assert chunk.table.column("scores").to_pylist()[:2] == [["1", "2", "3"], None]
    checks = {(f["row"], f["column"]): f["check"] for f in chunk.failures.table().to_pylist()}
    assert checks == {
        (2, "tags"): "shape: list of string, found mixed items (number, string)",
        (2, "scores"): "shape: list of int64, found array items",
        (3, "tags"): "shape: list of string, found scalar",
        (3, "scores"): "shape: list of int64, found object",
    }


def test_a_clean_block_of_lists_is_read_whole_in_the_items_json_type(tmp_path):
    (chunk,) = read(_write(tmp_path, [person(i, scores=[i, i + 1]) for i in range(5)]), people())
    assert str(chunk.table.column("scores").type) == "list<item: int64>"
    assert chunk.table.column("scores").to_pylist()[4] == [4, 5]


def test_list_items_are_typed_by_the_contract_and_a_bad_item_quarantines_its_row(tmp_path):
    path = _write(
        tmp_path,
        [person(1, scores=[1, 2]), person(2, scores=["3", "4"]), person(3, scores=[1.5]), person(4, scores=[])],
    )
    (result,) = validated(path, people())
    assert result.valid.select(["id", "scores"]).to_pylist() == [
        {"id": 1, "scores": [1, 2]},
        {"id": 2, "scores": [3, 4]},
        {"id": 4, "scores": []},
    ]
    entry = result.quarantine.to_pylist()[0]
    assert (entry["source_row"], entry["column"], entry["reason"], entry["value"]) == (
        3,
        "scores",
        "unparseable_int",
        "1.5",
    )


def test_a_warning_column_of_the_wrong_shape_is_nulled_and_counted_not_quarantined(tmp_path):
    contract = people(
        COLUMNS.replace(
            "{name: note, type: string, nullable: true}",
            "{name: note, type: string, nullable: true, criticality: warning}",
        )
    )
    (result,) = validated(_write(tmp_path, [person(1, note={"a": 1})]), contract)
    assert result.quarantine.num_rows == 0 and result.valid.column("note").to_pylist() == [None]
    assert result.warnings == {"note:wrong_shape": 1}
    assert json.loads(result.valid.column("_warnings")[0].as_py()) == {"note": '{"a": 1}'}


def test_a_wrong_shape_is_the_quarantined_rows_first_reason(tmp_path):
    (result,) = validated(_write(tmp_path, [person(1, address={"city": ["x"]})]), people())
    entry = result.quarantine.to_pylist()[0]
    assert (entry["reason"], entry["column"], entry["value"]) == ("wrong_shape", "address_city", '["x"]')


def test_invalid_json_inside_a_nested_value_quarantines_its_record_as_malformed(tmp_path):
    path = _write(
        tmp_path, [f'{{"id": 1, "ts": "{TS}", "address": {{"city": tru}}}}', person(2, address={"city": "Ulm"})]
    )
    (result,) = validated(path, people())
    assert result.valid.column("address_city").to_pylist() == ["Ulm"]
    assert [(e["source_row"], e["column"], e["reason"]) for e in result.quarantine.to_pylist()] == [
        (1, "", "malformed_json")
    ]


# -- hostile input --------------------------------------------------------------------------------

_KEYS = st.sampled_from(["id", "ts", "address", "city", "geo", "zip", "tags", "scores", "note", "x", "", "a.b"])
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.text(max_size=5).map(lambda t: t * 4000),  # huge strings
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=6), st.dictionaries(_KEYS, inner, max_size=6)),
    max_leaves=12,
)
_RECORDS = st.fixed_dictionaries(
    {"id": st.one_of(st.integers(0, 10**6), _VALUES), "ts": st.one_of(st.just(TS), _VALUES)},
    optional={"address": _VALUES, "tags": _VALUES, "scores": _VALUES, "note": _VALUES, "address_city": _VALUES},
)


def _line(record: Any, depth: int, raw: bytes | None) -> bytes:
    if raw is not None:
        return raw
    text = json.dumps(record)
    for _ in range(depth):  # nested past any limit
        text = '{"address": ' + text + "}"
    return text.encode()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=st.lists(
        st.tuples(
            _RECORDS,
            st.sampled_from([0, 0, 0, 1, 70]),
            st.one_of(
                st.none(),
                st.none(),
                st.sampled_from([b"{\xff\xfe", b'{"id": 1, "address": {"city": "\xc3"}}', b"[1]", b"{", b'"x"']),
            ),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_random_nested_json_ends_every_row_valid_or_quarantined_with_a_reason(tmp_path, lines):
    path = tmp_path / "h.jsonl"
    path.write_bytes(b"\n".join(_line(*line) for line in lines) + b"\n")
    limits = RecordLimits(max_nesting_depth=64, max_record_bytes=64 * 1024, max_field_bytes=16 * 1024)
    try:
        results = validated(path, people(extra="encoding: utf-8\n"), limits)  # bytes not UTF-8: quarantined lines
    except UnreadableFileError as exc:
        assert exc.hint
        return
    read_rows = sum(r.rows_read for r in results)
    assert read_rows == len(lines)
    assert sum(r.valid.num_rows + r.quarantine.num_rows for r in results) == read_rows
    for result in results:
        assert all(result.quarantine.column("reason").to_pylist())
        assert set(result.quarantine.column("source_row").to_pylist()).isdisjoint(
            result.valid.column("_source_row").to_pylist()
        )
