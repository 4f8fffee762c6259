"""Hostile values from real PostgreSQL and MariaDB tables: each row lands with its exact values, or in the quarantine.

Huge text (over the field limit), NUL characters (MariaDB; PostgreSQL text cannot hold them), odd unicode,
extreme and special floats, the integer limits, timestamps from year 1 to 9999.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from datetime import datetime, timezone

import psycopg
import pymysql
import pytest
from deltalake import DeltaTable
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sluice.lake.table import table_uri
from sluice.sources.database_stage import snapshot_table
from tests.sluice.sources.dbfixtures import (
    MARIADB_URL,
    PG_URL,
    commit,
    contract,
    maria_exec,
    pg_exec,
    request,
    spec,
    unique,
)

LIMIT = 4096  # SLUICE_MAX_FIELD_BYTES for these tests: a huge value is one over it
_count = itertools.count()

texts = st.one_of(
    st.none(),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=40),
    st.sampled_from(["\u202e\u0301", "\ufeffbom", "e\u0301", "\U0001f4a9" * 3, "\u0000nul", "a\u0000b"]),
    st.integers(LIMIT - 2, LIMIT + 50).map(lambda n: "\u00e9" * (n // 2)),
)
floats = st.one_of(st.none(), st.floats(allow_nan=False), st.sampled_from([5e-324, 1.7976931348623157e308, -0.0]))
stamps = st.datetimes(datetime(1, 1, 2), datetime(9999, 12, 30), timezones=st.just(timezone.utc))
rows = st.lists(st.tuples(texts, floats, stamps, st.integers(-(2**63), 2**63 - 1)), min_size=1, max_size=12)


def _contract(name: str):
    base = contract(name=name)
    cols = [c.model_dump() for c in base.columns] + [{"name": "big", "type": "int64", "nullable": True}]
    return contract(name=name, columns=cols)


def _load(kind: str, table: str, data: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    """Insert the rows the server accepts; return them as (id, note, amount, created_at, big)."""
    kept = []
    for i, (text, amount, ts, big) in enumerate(data, start=1):
        # PostgreSQL text cannot hold NUL
        note = text.replace("\x00", "") if kind == "pg" and isinstance(text, str) else text
        if kind == "maria" and (ts.year < 1000 or (amount is not None and math.isinf(amount))):
            continue  # outside MariaDB's DATETIME range / no infinity in DOUBLE
        kept.append((i, note, amount, ts, big))
    if kind == "pg":
        with psycopg.connect(PG_URL, autocommit=True) as conn, conn.cursor() as cur:
            cur.executemany(
                f"INSERT INTO \"{table}\" VALUES (%s, 'C000001', %s, %s, %s, %s, %s)",
                [(i, ts, amount, note, ts, big) for i, note, amount, ts, big in kept],
            )
        return kept
    conn = pymysql.connect(host="127.0.0.1", user="root", database="test", autocommit=True, charset="utf8mb4")
    with contextlib.closing(conn), conn.cursor() as cur:
        cur.executemany(
            f"INSERT INTO `{table}` VALUES (%s, 'C000001', %s, %s, %s, %s, %s)",
            [
                (i, ts.replace(tzinfo=None), amount, note, ts.replace(tzinfo=None), big)
                for i, note, amount, ts, big in kept
            ],
        )
    return kept


DDL = {
    "pg": 'CREATE TABLE "{t}" (id bigint PRIMARY KEY, customer text, created_at timestamptz, amount float8, '
    "note text, updated_at timestamptz, big bigint)",
    "maria": "CREATE TABLE `{t}` (id bigint PRIMARY KEY, customer text, created_at datetime(6), amount double, "
    "note longtext, updated_at datetime(6), big bigint) CHARACTER SET utf8mb4",
}


@pytest.mark.parametrize("kind", ["pg", "maria"])
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=rows)
@example(
    data=[
        ("\u00e9" * LIMIT, float("inf"), datetime(1, 1, 2, tzinfo=timezone.utc), -(2**63)),
        ("", -0.0, datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=timezone.utc), 2**63 - 1),
        ("a\u0000b\u202e", None, datetime(1970, 1, 1, tzinfo=timezone.utc), None),
    ]
)
def test_hostile_values_land_exactly_or_in_quarantine(sluice_home, monkeypatch, kind, data):
    monkeypatch.setenv("SLUICE_MAX_FIELD_BYTES", str(LIMIT))
    from sluice.settings import get_settings

    settings_ = get_settings(fresh=True)
    table, name = unique("sl_hostile"), f"hostile{next(_count)}"
    run = pg_exec if kind == "pg" else maria_exec
    run(DDL[kind].format(t=table))
    try:
        kept = _load(kind, table, data)
        c = _contract(name)
        if kind == "maria":  # datetime is naive: the contract says which zone its values are in
            cols = [col.model_dump() for col in c.columns]
            for col in cols:
                if col["type"] == "timestamp":
                    col["timezone"] = "UTC"
            c = _contract(name).model_copy(update={"columns": [type(c.columns[0])(**x) for x in cols]})
        req = request(settings_, spec(PG_URL if kind == "pg" else MARIADB_URL, c, table=table), f"run-{name}")
        outcomes = snapshot_table(req, 2)
        result = commit(settings_, req, outcomes)
    finally:
        run(f'DROP TABLE IF EXISTS "{table}"' if kind == "pg" else f"DROP TABLE IF EXISTS `{table}`")
    lake = {}
    if result.lake.rows_written:
        lake = {r["id"]: r for r in DeltaTable(table_uri(settings_.lake_root(), name)).to_pyarrow_table().to_pylist()}
    quarantined = {}
    if result.quarantined:
        q = DeltaTable(settings_.quarantine_root()).to_pyarrow_table().to_pylist()
        quarantined = {int(dict(r["record"])["id"]): r for r in q if r["dataset"] == name}
    assert sum(o.rows_read for o in outcomes) == len(kept)
    assert set(lake) | set(quarantined) == {k[0] for k in kept} and not set(lake) & set(quarantined)
    huge = {k[0] for k in kept if isinstance(k[1], str) and len(k[1].encode()) > LIMIT}
    assert huge <= set(quarantined)  # over the field limit: quarantined with its reason, never cut silently
    for i, note, amount, ts, big in kept:
        if i in quarantined:
            assert quarantined[i]["reason"]
            continue
        got = lake[i]
        assert (got["note"], got["amount"], got["big"]) == (note, amount, big)
        assert got["created_at"] == ts.replace(microsecond=ts.microsecond)
