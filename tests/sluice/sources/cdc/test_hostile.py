"""Hostile input: arbitrary decoder rows, weird column names, unicode, huge values, NULs, breaking schema changes."""

from __future__ import annotations

import json

import psycopg
import pytest
from deltalake import DeltaTable
from hypothesis import given, settings
from hypothesis import strategies as st

from sluice.sources.cdc.capture import capture
from sluice.sources.cdc.decode import TableRef, transactions
from sluice.sources.cdc.errors import CdcDecodeError, SourceSchemaChangeError
from sluice.validate.contracts import parse_contract
from tests.pgcluster import PgCluster
from tests.sluice.sources.cdc.conftest import ACCOUNTS, CdcSource, make_source

REF = TableRef("public", "accounts", parse_contract(ACCOUNTS))
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def _change(action: str, cols: list[dict[str, object]]) -> str:
    return json.dumps({"action": action, "lsn": "0/10", "schema": "public", "table": "accounts", "columns": cols})


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["0/1", "0/2", "x", "1/FFFFFFFF"]), st.integers(0, 9), st.text() | _json.map(json.dumps)
        ),
        max_size=6,
    )
)
def test_any_decoder_output_decodes_or_fails_in_one_line(rows: list[tuple[str, int, str]]) -> None:
    try:
        transactions(rows, REF)
    except (CdcDecodeError, SourceSchemaChangeError) as exc:
        assert "\n" not in exc.args[0] and exc.hint


@settings(max_examples=200, deadline=None)
@given(st.text(), st.integers(-(2**63), 2**63 - 1))
def test_text_and_numbers_round_trip_exactly(text: str, number: int) -> None:
    cols = [{"name": "id", "value": number}, {"name": "created_at", "value": "2024-01-02 03:04:05+00"}]
    cols += [{"name": "name", "value": text}, {"name": "body", "value": None}]
    cols += [{"name": "balance", "value": None}, {"name": "active", "value": None}]
    rows = [("0/1", 7, '{"action":"B"}'), ("0/10", 7, _change("I", cols)), ("0/20", 7, '{"action":"C"}')]
    (txn,) = transactions(rows, REF)
    assert txn.changes[0].values["name"] == text and txn.changes[0].values["id"] == number
    assert txn.commit_lsn == 0x20


def test_a_value_of_another_type_is_a_schema_change() -> None:
    cols = [{"name": "id", "value": "not a number"}, {"name": "created_at", "value": "2024-01-02"}]
    cols += [{"name": n, "value": None} for n in ("name", "body", "balance", "active")]
    rows = [("0/1", 7, '{"action":"B"}'), ("0/10", 7, _change("I", cols))]
    with pytest.raises(SourceSchemaChangeError, match="column 'id'") as caught:
        transactions(rows, REF)
    assert "source-schema-change" in caught.value.hint


WEIRD = """
name: weird
owner: tests@sluice.example
freshness_sla: 1d
primary_key: ["Ключ"]
partition: {column: created_at}
columns:
  - {name: "Ключ", type: string}
  - {name: created_at, type: timestamp}
  - {name: "naïve ✓ col", type: string, nullable: true}
  - {name: "quote\\"d", type: string, nullable: true}
"""
WEIRD_DDL = (
    'CREATE TABLE "we.ird, tab" ("Ключ" text PRIMARY KEY, created_at timestamp NOT NULL DEFAULT now(), '
    '"naïve ✓ col" text, "quote""d" text)'
)


@pytest.fixture()
def weird_source(pg_logical: PgCluster):
    yield from make_source(pg_logical, WEIRD_DDL, WEIRD)


def test_weird_names_unicode_and_huge_values_round_trip(weird_source: CdcSource, sluice_home) -> None:
    huge = "é\u2028\U0001f600" * 400_000  # TOASTed, several MB
    values = [("k1", "plain"), ("ключ-2", huge), ("k\t3", "\\x00 is not NUL"), ("k4", "'; DROP TABLE x; --")]
    with weird_source.connect() as conn:
        for key, text in values:
            conn.execute(
                'INSERT INTO "we.ird, tab" ("Ключ", "naïve ✓ col", "quote""d") VALUES (%s, %s, %s)', (key, text, text)
            )
        with pytest.raises(psycopg.DataError):  # PostgreSQL text cannot hold NUL: it never reaches the decoder
            conn.execute('INSERT INTO "we.ird, tab" ("Ключ") VALUES (%s)', ("nul\x00",))
    sink = weird_source.sink(sluice_home.home)
    capture(weird_source.spec(table="we.ird, tab"), sink)
    rows = DeltaTable(sink.uri).to_pyarrow_table().sort_by("_lsn").to_pylist()
    assert [(r["Ключ"], r["naïve ✓ col"], r['quote"d']) for r in rows] == [(k, t, t) for k, t in values]


def test_a_dropped_column_stops_the_capture(cdc_source: CdcSource, sluice_home) -> None:
    with cdc_source.connect() as conn:
        conn.execute("INSERT INTO accounts (id, name) VALUES (1, 'a')")
        conn.execute("ALTER TABLE accounts ADD COLUMN extra int")
        conn.execute("INSERT INTO accounts (id, name, extra) VALUES (2, 'b', 7)")
        conn.execute("ALTER TABLE accounts DROP COLUMN active")
        conn.execute("INSERT INTO accounts (id, name) VALUES (3, 'c')")
    sink = cdc_source.sink(sluice_home.home)
    with pytest.raises(SourceSchemaChangeError, match=r"lacks column.s. active") as caught:
        capture(cdc_source.spec(batch_changes=1), sink)
    assert "source-schema-change" in str(caught.value)
    rows = DeltaTable(sink.uri).to_pyarrow_table().sort_by("_lsn").to_pylist()
    assert [(r["id"], r["_extra"]) for r in rows] == [(1, None), (2, '{"extra": 7}')]  # the addition is carried


def test_an_added_column_stops_the_capture_when_the_contract_says_so() -> None:
    cols = [{"name": "id", "value": 1}, {"name": "created_at", "value": "2024-01-02"}, {"name": "new", "value": 1}]
    cols += [{"name": n, "value": None} for n in ("name", "body", "balance", "active")]
    rows = [("0/1", 7, '{"action":"B"}'), ("0/10", 7, _change("I", cols))]
    (carried,) = transactions([*rows, ("0/20", 7, '{"action":"C"}')], REF)
    assert carried.changes[0].extra == {"new": 1}
    with pytest.raises(SourceSchemaChangeError, match=r"new column.s. new"):
        transactions(rows, TableRef("public", "accounts", REF.contract, additive="stop"))
