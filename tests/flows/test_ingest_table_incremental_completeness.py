"""Completeness of incremental database reads: the cursor interval's count(*) in the read's snapshot.

Each test runs on PostgreSQL (counted in the coordinator's transaction, read in its exported snapshot) and on
MariaDB (counted and read on one connection, in its consistent snapshot).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta

import pyarrow as pa
import pytest

from sluice.errors import CompletenessError
from sluice.lake.table import table_uri
from sluice.settings import get_settings
from sluice.sources import database_keyset
from sluice.sources.database_keyset import Position
from sluice.sources.database_stage import last_position
from tests.flows.helpers import lake_table
from tests.flows.test_ingest_table_completeness import T0, _contracts, _last_run
from tests.ops.factories import invoke
from tests.sluice.sources.dbfixtures import (  # noqa: F401
    MARIA_DDL,
    MARIADB_URL,
    PG_DDL,
    PG_URL,
    maria_exec,
    maria_table,
    pg_exec,
    pg_table,
)

pytestmark = pytest.mark.integration
LOOKBACK = 10.0  # seconds: each run after the first re-reads the rows of the 10 s before its position
READERS = {"pg": "read_pg", "maria": "fetch_mariadb"}  # the driver readers of an incremental read


@pytest.fixture(params=["pg", "maria"])
def db(request: pytest.FixtureRequest, tmp_path, monkeypatch) -> tuple[str, str]:
    """(kind, table name): an empty table of the dbfixtures shape on the server of ``kind``."""
    kind = request.param
    name = request.getfixturevalue("pg_table" if kind == "pg" else "maria_table")
    (pg_exec if kind == "pg" else maria_exec)((PG_DDL if kind == "pg" else MARIA_DDL).format(t=_quoted(kind, name)))
    return kind, name


def _quoted(kind: str, name: str) -> str:
    return f'"{name}"' if kind == "pg" else f"`{name}`"


def _at(kind: str, seconds: float) -> datetime:
    moment = T0 + timedelta(seconds=seconds)
    return moment if kind == "pg" else moment.replace(tzinfo=None)


def _insert(kind: str, name: str, rows: list[tuple[int, float]]) -> None:
    """Rows (id, updated_at as seconds after T0): amount id / 4, created_at id hours after T0."""
    values = ", ".join(["(%s, %s, %s, %s, NULL, %s)"] * len(rows))
    params = [
        v for i, s in rows for v in (i, f"C{i:06d}", _at(kind, i * 3600.0), i / 4.0, _at(kind, s))
    ]  # one statement, one commit
    (pg_exec if kind == "pg" else maria_exec)(f"INSERT INTO {_quoted(kind, name)} VALUES {values}", params)


def _fill(kind: str, name: str, lo: int, hi: int) -> None:
    """Rows lo..hi, each updated ``id`` seconds after T0."""
    _insert(kind, name, [(i, float(i)) for i in range(lo, hi + 1)])


def _seam(monkeypatch, kind: str, *, drop: int | None = None, before: Callable[[], None] | None = None) -> None:
    """The read's driver reader, patched: ``before`` runs when it starts (after the plan and its count), and the
    batch carrying id ``drop`` arrives without it (a row the source sent and Sluice never got)."""
    name = READERS[kind]
    real = getattr(database_keyset, name)

    def wrapped(*args, **kwargs):
        if before is not None:
            before()
        for table in real(*args, **kwargs):
            ids = table.column("id").to_pylist()
            yield table.filter(pa.array([i != drop for i in ids])) if drop in ids else table

    monkeypatch.setattr(database_keyset, name, wrapped)


def _ingest(sluice_home, name: str):
    from flows.ingest_table import ingest_table
    from flows.runners import dask_task_runner

    runner = dask_task_runner(sluice_home)  # threads in this process: the patched reader is theirs too
    return ingest_table.with_options(task_runner=runner)(
        "dbtest", connection="shop", table=name, mode="incremental", cursor="updated_at", lookback_seconds=LOOKBACK
    )


def _sides(report) -> list[tuple[int, int, bool]]:
    return [(c.source_rows, c.read_rows, c.agrees) for c in report.control_totals]


def _position(source: str) -> Position | None:
    return last_position(table_uri(get_settings().lake_root(), "dbtest"), source)


def _ids() -> list[int]:
    return sorted(lake_table("dbtest").column("id").to_pylist())


def test_a_lost_row_fails_strict_lands_nothing_and_keeps_the_position_then_a_clean_rerun_lands_it_once(
    prefect_api, sluice_home, tmp_path, monkeypatch, db
):
    kind, name = db
    _contracts(tmp_path, monkeypatch, {"policy": "strict", "sum": "amount"}, PG_URL if kind == "pg" else MARIADB_URL)
    _fill(kind, name, 1, 500)
    first = _ingest(sluice_home, name)
    assert (first.status, first.rows_written, _sides(first)) == ("completed", 500, [(500, 500, True)])
    at_500 = _position(first.source)
    assert at_500 is not None and at_500.key == (500,)

    _fill(kind, name, 501, 1_000)
    with monkeypatch.context() as patched:
        _seam(patched, kind, drop=700)
        with pytest.raises(CompletenessError, match=r"511 rows, 510 were read"):
            _ingest(sluice_home, name)

    failed = _last_run()
    [totals] = failed.control_totals  # ids 490..1000: the look-back's 11 rows are counted as they are read
    assert (failed.status, totals.source_rows, totals.read_rows) == ("failed", 511, 510)
    assert totals.source_sum == pytest.approx(sum(i / 4.0 for i in range(490, 1_001)))
    assert totals.read_sum == pytest.approx(totals.source_sum - 700 / 4.0)
    shown = invoke("runs", "show", failed.run_id, "-o", "json")
    assert shown.exit_code == 0
    assert [(c["source_rows"], c["read_rows"]) for c in json.loads(shown.stdout)["control_totals"]] == [(511, 510)]
    assert _ids() == list(range(1, 501))  # the batch is not committed
    assert _position(first.source) == at_500  # and the position does not advance

    clean = _ingest(sluice_home, name)
    assert (clean.status, clean.rows_written, clean.rows_duplicate) == ("completed", 500, 11)
    assert _sides(clean) == [(511, 511, True)]
    assert _ids() == list(range(1, 1_001))  # every row once
    assert _position(first.source).key == (1_000,)


def test_a_lost_row_lands_with_the_warning_under_warn(prefect_api, sluice_home, tmp_path, monkeypatch, db):
    kind, name = db
    _contracts(tmp_path, monkeypatch, {"policy": "warn", "sum": "amount"}, PG_URL if kind == "pg" else MARIADB_URL)
    _fill(kind, name, 1, 300)
    _seam(monkeypatch, kind, drop=7)

    lossy = _ingest(sluice_home, name)

    assert (lossy.status, lossy.rows_written) == ("completed", 299)
    assert lossy.warnings["completeness:mismatch"] == 1
    assert _sides(lossy) == [(300, 299, False)]
    [totals] = lossy.control_totals
    assert totals.source_sum == pytest.approx(sum(i / 4.0 for i in range(1, 301)))
    assert _position(lossy.source).key == (300,)


def test_rows_committed_by_another_connection_during_the_read_cause_no_mismatch(
    prefect_api, sluice_home, tmp_path, monkeypatch, db
):
    kind, name = db
    _contracts(tmp_path, monkeypatch, "strict", PG_URL if kind == "pg" else MARIADB_URL)
    _fill(kind, name, 1, 1_000)
    # Committed after the interval was counted, before its rows are read: 5001 inside the interval (a late
    # update, before the end), 5002 after it. Neither is in the read's snapshot, so neither side sees them.
    with monkeypatch.context() as patched:
        _seam(patched, kind, before=lambda: _insert(kind, name, [(5_001, 1.5), (5_002, 5_000.0)]))
        during = _ingest(sluice_home, name)

    assert (during.status, during.rows_read, _sides(during)) == ("completed", 1_000, [(1_000, 1_000, True)])
    assert _ids() == list(range(1, 1_001))

    after = _ingest(sluice_home, name)  # ids 990..1000 again (the look-back) and 5002
    assert (after.status, after.rows_written, _sides(after)) == ("completed", 1, [(12, 12, True)])
    assert _ids() == [*range(1, 1_001), 5_002]
