"""A chunk skips pandera only when pandera would find no failure in it."""

from __future__ import annotations

import math
from datetime import date, datetime, timezone

import pandas as pd
import pandera.errors
import pyarrow as pa
from hypothesis import event, given, settings
from hypothesis import strategies as st

from sluice.validate.clean import certainly_clean
from sluice.validate.coerce import arrow_schema
from sluice.validate.contracts import parse_contract
from sluice.validate.schema import build_schema, register_backends

CONTRACT = parse_contract(
    """
name: checked
owner: tests@sluice.example
freshness_sla: 1d
primary_key: [id]
partition: {column: at}
columns:
  - {name: id, type: int64, min: 0, max: 1000}
  - {name: kind, type: string, allowed_values: [click, view]}
  - {name: amount, type: float64, min: -1.5}
  - {name: share, type: float64, nullable: true, max: 1}
  - {name: code, type: string, nullable: true, max_length: 3}
  - {name: paid, type: bool, nullable: true}
  - {name: at, type: timestamp}
"""
)
PATTERNED = parse_contract(
    """
name: patterned
owner: tests@sluice.example
freshness_sla: 1d
primary_key: [code]
partition: {column: at}
columns:
  - {name: code, type: string, pattern: "^[A-Z]+$"}
  - {name: at, type: date}
"""
)

AT = datetime(2024, 3, 5, tzinfo=timezone.utc)
passing = {
    "id": st.integers(0, 1000),
    "kind": st.sampled_from(["click", "view"]),
    "amount": st.floats(-1.5, 1e9),
    "share": st.one_of(st.none(), st.floats(max_value=1, allow_nan=False)),
    "code": st.one_of(st.none(), st.text(max_size=3)),
    "paid": st.one_of(st.none(), st.booleans()),
    "at": st.just(AT),
}
odd = st.one_of(
    st.none(),
    st.integers(-2, 1002),
    st.sampled_from(["buy", "Click", "", "abcd", "ééé", "éééé"]),
    st.sampled_from([math.nan, math.inf, -math.inf, -1.5, -1.6, 1.0, 1.01]),
)


@st.composite
def rows(draw: st.DrawFn) -> list[dict[str, object]]:
    """Rows that pass, and now and then one value that may not (of the column's type, or null)."""
    found = draw(st.lists(st.fixed_dictionaries(passing), min_size=1, max_size=6))
    for _ in range(draw(st.integers(0, 2))):
        name = draw(st.sampled_from(sorted(passing)))
        value = draw(odd)
        kind = arrow_schema(CONTRACT).field(name).type
        fits = {pa.string(): str, pa.int64(): int, pa.float64(): (int, float)}.get(kind, type(None))
        if value is None or isinstance(value, fits):
            draw(st.sampled_from(found))[name] = value
    return found


def _pandera_passes(table: pa.Table) -> bool:
    register_backends()
    try:
        build_schema(CONTRACT).validate(table.to_pandas(types_mapper=pd.ArrowDtype), lazy=True)
    except pandera.errors.SchemaErrors:
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(found=rows())
def test_a_chunk_called_clean_passes_pandera(found: list[dict[str, object]]) -> None:
    table = pa.Table.from_pylist(found, schema=arrow_schema(CONTRACT))
    clean = certainly_clean(table, CONTRACT)
    event("clean" if clean else "to pandera")
    if clean:
        assert _pandera_passes(table)


def test_a_clean_chunk_is_called_clean_and_each_failure_is_left_to_pandera() -> None:
    good = {"id": 5, "kind": "view", "amount": -1.5, "share": None, "code": "abc", "paid": True, "at": AT}
    assert certainly_clean(pa.Table.from_pylist([good], schema=arrow_schema(CONTRACT)), CONTRACT)
    for change in (
        {"id": None},
        {"at": None},
        {"id": 1001},
        {"kind": "buy"},
        {"amount": -1.6},
        {"amount": math.nan},
        {"share": math.nan},
        {"code": "abcd"},
    ):
        table = pa.Table.from_pylist([good, {**good, **change}], schema=arrow_schema(CONTRACT))
        assert not certainly_clean(table, CONTRACT), change
        assert not _pandera_passes(table) or change in ({"share": math.nan},), change


def test_a_pattern_is_always_left_to_pandera() -> None:
    table = pa.Table.from_pylist([{"code": "ABC", "at": date(2024, 3, 5)}], schema=arrow_schema(PATTERNED))
    assert not certainly_clean(table, PATTERNED)
