"""Incremental extraction on real PostgreSQL and MariaDB: ties, late rows within the look-back, nothing-new reruns."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from deltalake import DeltaTable

from sluice.lake.table import open_table, table_uri
from sluice.runs.records import FileStatus
from sluice.sources.database_stage import last_position, stage_incremental
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


class Db:
    """One test table on one server, written through plain SQL."""

    def __init__(self, kind: str, table: str) -> None:
        self.kind, self.table = kind, table
        self.url = PG_URL if kind == "pg" else MARIADB_URL
        q = f'"{table}"' if kind == "pg" else f"`{table}`"
        self.q = q
        (pg_exec if kind == "pg" else maria_exec)((PG_DDL if kind == "pg" else MARIA_DDL).format(t=q))

    def insert(self, ident: int, updated: datetime, note: str = "n") -> None:
        value = updated if self.kind == "pg" else updated.replace(tzinfo=None)
        sql = f"INSERT INTO {self.q} VALUES (%s, %s, %s, %s, %s, %s)"
        (pg_exec if self.kind == "pg" else maria_exec)(sql, (ident, f"C{ident:06d}", value, 1.5, note, value))


@pytest.fixture(params=["pg", "maria"])
def db(request):
    kind = request.param
    table = request.getfixturevalue("pg_table" if kind == "pg" else "maria_table")
    return Db(kind, table)


def run(settings, db: Db, run_id: str, lookback: float = 0.0):
    s = spec(db.url, contract(), table=db.table, cursor="updated_at")
    req = request(settings, s, run_id)
    previous = last_position(req.lake_uri, s.source)
    out = stage_incremental(req, previous, lookback)
    result = commit(settings, req, [out] if out else [])
    return out, result


def ids(settings) -> list[int]:
    table = DeltaTable(table_uri(settings.lake_root(), "dbtest")).to_pyarrow_table()
    return sorted(table.column("id").to_pylist())


def version(settings) -> int | None:
    t = open_table(table_uri(settings.lake_root(), "dbtest"))
    return None if t is None else t.version()


def test_ties_on_the_cursor_are_not_lost(sluice_home, db):
    for i in range(1, 6):
        db.insert(i, T0)  # five rows, one cursor value
    out, _ = run(sluice_home, db, "r1")
    assert out is not None and out.rows_read == 5
    for i in range(6, 9):
        db.insert(i, T0)  # the same cursor value again, later keys
    out, result = run(sluice_home, db, "r2")
    assert out is not None and out.rows_read == 3 and result.lake.rows_written == 3
    assert ids(sluice_home) == list(range(1, 9))


def test_nothing_new_commits_nothing(sluice_home, db):
    for i in range(1, 21):
        db.insert(i, T0 + timedelta(seconds=i))
    run(sluice_home, db, "r1", lookback=30)
    before = version(sluice_home)
    out, result = run(sluice_home, db, "r2", lookback=30)
    assert out is not None and out.status is FileStatus.SKIPPED
    assert result.committed == [] and version(sluice_home) == before
    assert ids(sluice_home) == list(range(1, 21))


def test_late_row_within_lookback_is_read(sluice_home, db):
    for i in range(1, 11):
        db.insert(i, T0 + timedelta(seconds=10 * i))
    run(sluice_home, db, "r1", lookback=60)
    db.insert(100, T0 + timedelta(seconds=75))  # committed late, before the last position (100 s)
    db.insert(200, T0 + timedelta(seconds=5))  # later still, before the look-back: a cursor cannot see it
    out, result = run(sluice_home, db, "r2", lookback=60)
    assert out is not None and out.status is FileStatus.COMMITTED
    assert result.lake.rows_written == 1 and result.lake.duplicates_in_lake == out.rows_read - 1
    assert ids(sluice_home) == [*range(1, 11), 100]


def test_late_row_without_lookback_is_missed(sluice_home, db):
    for i in range(1, 4):
        db.insert(i, T0 + timedelta(seconds=10 * i))
    run(sluice_home, db, "r1")
    db.insert(50, T0 + timedelta(seconds=15))
    out, result = run(sluice_home, db, "r2")
    assert out is None and result.committed == []  # nothing after the position: nothing read
    assert ids(sluice_home) == [1, 2, 3]


def test_new_rows_after_position(sluice_home, db):
    for i in range(1, 4):
        db.insert(i, T0 + timedelta(seconds=i))
    run(sluice_home, db, "r1", lookback=1)
    for i in range(4, 7):
        db.insert(i, T0 + timedelta(seconds=i))
    _, result = run(sluice_home, db, "r2", lookback=1)
    assert result.lake.rows_written == 3
    assert ids(sluice_home) == list(range(1, 7))
    pos = last_position(table_uri(sluice_home.lake_root(), "dbtest"), spec(db.url, contract(), table=db.table).source)
    assert pos is not None and pos.key == (6,)


def test_empty_table_commits_nothing(sluice_home, db):
    out, result = run(sluice_home, db, "r1")
    assert out is None and result.committed == [] and version(sluice_home) is None


def test_concurrent_incremental_runs_commit_once(sluice_home, pg_table):
    db = Db("pg", pg_table)
    for i in range(1, 501):
        db.insert(i, T0 + timedelta(seconds=i))
    results = []

    def go(run_id: str) -> None:
        results.append(run(sluice_home, db, run_id, lookback=10))

    threads = [threading.Thread(target=go, args=(f"r{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.lake.rows_written for _, r in results) == 500
    assert sum(len(r.committed) for _, r in results) == 1
    assert ids(sluice_home) == list(range(1, 501))
