"""Full snapshots of real PostgreSQL and MariaDB tables into the lake: row by row equal, one consistent view."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from deltalake import DeltaTable

from sluice.sources.database_read import KeyRange, snapshot_sql
from sluice.sources.database_stage import snapshot_table, threads
from tests.sluice.sources.dbfixtures import (
    MARIA_DDL,
    MARIADB_URL,
    PG_DDL,
    PG_URL,
    commit,
    contract,
    maria_exec,
    maria_table,  # noqa: F401 - fixture
    pg_exec,
    pg_table,  # noqa: F401 - fixture
    request,
    spec,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def _rows(n: int) -> list[tuple[object, ...]]:
    return [
        (
            i,
            f"C{i:06d}",
            T0 + timedelta(hours=i),
            None if i % 7 == 0 else Decimal(i) / 4,
            None if i % 5 == 0 else f"note {i} ü\u2603",
            T0 + timedelta(minutes=i),
        )
        for i in range(1, n + 1)
    ]


def lake_rows(settings, dataset: str = "dbtest") -> list[dict[str, object]]:
    table = DeltaTable(f"{settings.lake_root()}/{dataset}").to_pyarrow_table()
    cols = ["id", "customer", "created_at", "amount", "note", "updated_at"]
    return sorted(table.select(cols).to_pylist(), key=lambda r: r["id"])


def expected(rows: list[tuple[object, ...]]) -> list[dict[str, object]]:
    return [
        {
            "id": r[0],
            "customer": r[1],
            "created_at": r[2],
            "amount": None if r[3] is None else float(r[3]),
            "note": r[4],
            "updated_at": r[5],
        }
        for r in rows
    ]


def _fill_pg(table: str, rows: list[tuple[object, ...]]) -> None:
    pg_exec(PG_DDL.format(t=f'"{table}"'))
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn, conn.cursor() as cur:
        cur.executemany(f'INSERT INTO "{table}" VALUES (%s, %s, %s, %s, %s, %s)', rows)


def _fill_maria(table: str, rows: list[tuple[object, ...]]) -> None:
    maria_exec(MARIA_DDL.format(t=f"`{table}`"))
    import contextlib

    import pymysql

    conn = pymysql.connect(host="127.0.0.1", user="root", database="test", autocommit=True, charset="utf8mb4")
    with contextlib.closing(conn), conn.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
        naive = [(*r[:2], r[2].replace(tzinfo=None), *r[3:5], r[5].replace(tzinfo=None)) for r in rows]
        cur.executemany(f"INSERT INTO `{table}` VALUES (%s, %s, %s, %s, %s, %s)", naive)


@pytest.mark.parametrize("parts", [1, 4])
def test_pg_snapshot_equals_source_row_by_row(sluice_home, pg_table, parts):
    rows = _rows(2500)
    _fill_pg(pg_table, rows)
    req = request(sluice_home, spec(PG_URL, contract(), table=pg_table), "run-1")
    outcomes = snapshot_table(req, parts)
    assert len(outcomes) == parts
    result = commit(sluice_home, req, outcomes)
    assert result.lake.rows_written == 2500 and result.quarantined == 0
    assert lake_rows(sluice_home) == expected(rows)


def test_mariadb_snapshot_equals_source_row_by_row(sluice_home, maria_table):
    rows = _rows(1500)
    _fill_maria(maria_table, rows)
    req = request(sluice_home, spec(MARIADB_URL, contract(), table=maria_table), "run-1")
    outcomes = snapshot_table(req, 4)
    assert len(outcomes) == 1  # no snapshot MariaDB readers could share: one reader
    result = commit(sluice_home, req, outcomes)
    assert result.lake.rows_written == 1500
    assert lake_rows(sluice_home) == expected(rows)


def test_same_pg_snapshot_twice_commits_once(sluice_home, pg_table):
    _fill_pg(pg_table, _rows(50))
    first = request(sluice_home, spec(PG_URL, contract(), table=pg_table), "run-1")
    commit(sluice_home, first, snapshot_table(first, 1))
    again = request(sluice_home, spec(PG_URL, contract(), table=pg_table), "run-2")
    outcome = commit(sluice_home, again, snapshot_table(again, 1))
    assert outcome.lake.rows_written == 0
    assert len(lake_rows(sluice_home)) == 50


def test_pg_snapshot_readers_share_one_view_under_concurrent_writes(sluice_home, pg_table):
    """Rows inserted, updated and deleted after the export are invisible to every range reader."""
    rows = _rows(4000)
    _fill_pg(pg_table, rows)
    req = request(sluice_home, spec(PG_URL, contract(), table=pg_table), "run-1")

    def write_then_read(fn, ranges):
        assert len(ranges) == 4
        pg_exec(f"UPDATE \"{pg_table}\" SET note = 'changed', amount = -1 WHERE id % 3 = 0")
        pg_exec(f'DELETE FROM "{pg_table}" WHERE id % 11 = 0')
        pg_exec(
            f"INSERT INTO \"{pg_table}\" SELECT g, 'C999999', now(), 1, 'late', now() "
            "FROM generate_series(4001, 4500) g"
        )
        stop = threading.Event()

        def keep_writing() -> None:
            i = 5000
            while not stop.is_set():
                pg_exec(f"INSERT INTO \"{pg_table}\" VALUES (%s, 'C000001', now(), 2, 'during', now())", (i,))
                pg_exec(f"UPDATE \"{pg_table}\" SET note = 'during' WHERE id = %s", (i % 4000 + 1,))
                i += 1

        writer = threading.Thread(target=keep_writing)
        writer.start()
        try:
            yield from threads(4)(fn, ranges)
        finally:
            stop.set()
            writer.join()

    outcomes = snapshot_table(req, 4, write_then_read)
    commit(sluice_home, req, outcomes)
    assert lake_rows(sluice_home) == expected(rows)
    assert pg_exec(f"SELECT count(*) FROM \"{pg_table}\" WHERE note IN ('changed', 'during')")[0][0] > 0


def test_concurrent_snapshot_runs_commit_every_row_once(sluice_home, pg_table):
    rows = _rows(3000)
    _fill_pg(pg_table, rows)
    results = {}

    def run(run_id: str) -> None:
        req = request(sluice_home, spec(PG_URL, contract(), table=pg_table), run_id)
        results[run_id] = commit(sluice_home, req, snapshot_table(req, 2))

    workers = [threading.Thread(target=run, args=(f"run-{i}",)) for i in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len(results) == 3
    assert sum(r.lake.rows_written for r in results.values()) == 3000
    assert lake_rows(sluice_home) == expected(rows)


def test_a_snapshot_whose_coordinator_is_killed_fails_and_commits_nothing(sluice_home, pg_table):
    from sluice.errors import SourceError

    _fill_pg(pg_table, _rows(200))
    req = request(sluice_home, spec(PG_URL, contract(), table=pg_table), "run-1")

    def kill_then_read(fn, ranges):
        killed = pg_exec(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'sluice' "
            "AND pid <> pg_backend_pid() AND state = 'idle in transaction'"
        )
        assert killed
        yield from threads(2)(fn, ranges)

    with pytest.raises(SourceError) as err:
        snapshot_table(req, 2, kill_then_read)
    assert "\n" not in str(err.value).split("\n  hint:")[0]
    assert "snapshot" in str(err.value) and "rerun" in err.value.hint
    outcome = commit(sluice_home, req, [])
    assert outcome.committed == [] and outcome.lake.version is None


def test_pg_numeric_under_a_string_contract_keeps_the_servers_digits(sluice_home, pg_table):
    rows = [(1, "C000001", T0, Decimal("10.50"), None, T0), (2, "C000002", T0, Decimal("-0.05"), None, T0)]
    _fill_pg(pg_table, rows)
    columns = [{**c, "type": "string"} if c["name"] == "amount" else c for c in contract().model_dump()["columns"]]
    as_text = contract(columns=columns)
    req = request(sluice_home, spec(PG_URL, as_text, table=pg_table), "run-text")
    assert '"amount"::text AS "amount"' in snapshot_sql(req.spec, KeyRange(), req.columns)

    commit(sluice_home, req, snapshot_table(req, 1))

    assert [r["amount"] for r in lake_rows(sluice_home)] == ["10.50", "-0.05"]
