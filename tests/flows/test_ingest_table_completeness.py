"""Completeness against a database: each key range's count(*) in the read's snapshot against the rows read.

PostgreSQL counts in the snapshot its readers share; MariaDB's one reader counts in its own consistent snapshot.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pyarrow as pa
import pytest
import yaml

from sluice.errors import CompletenessError
from sluice.lake.table import open_table, table_uri
from sluice.runs.metastore import engine_for, get_run, list_runs
from sluice.settings import get_settings
from sluice.sources import database_read
from tests.flows.helpers import lake_table
from tests.sluice.sources.dbfixtures import (  # noqa: F401
    MARIA_DDL,
    MARIADB_URL,
    PG_DDL,
    PG_URL,
    contract,
    maria_exec,
    maria_table,
    pg_exec,
    pg_table,
)

pytestmark = pytest.mark.integration
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def _contracts(tmp_path, monkeypatch, completeness: object, url: str = PG_URL) -> None:
    folder = tmp_path / "contracts"
    folder.mkdir()
    body = contract().model_dump(mode="json", exclude_defaults=True)
    body["freshness_sla"] = "1d"
    body["completeness"] = completeness
    (folder / "dbtest.yaml").write_text(yaml.safe_dump(body))
    monkeypatch.setenv("SLUICE_CONTRACTS_DIR", str(folder))
    monkeypatch.setenv("SLUICE_DATABASES", f'{{"shop": "{url}"}}')
    get_settings(fresh=True)


def _table(name: str, rows: int) -> None:
    pg_exec(PG_DDL.format(t=f'"{name}"'))
    pg_exec(
        f"INSERT INTO \"{name}\" SELECT g, 'C' || lpad(g::text, 6, '0'), %s + g * interval '1 hour', g / 4.0, "
        "NULL, %s + g * interval '1 second' FROM generate_series(1, %s::int) g",
        (T0, T0, rows),
    )


def _lose_a_row_in_transit(monkeypatch) -> None:
    """The first driver batch that carries id 7 arrives without it: a row the source sent and Sluice never got."""
    read = database_read.read_pg

    def lossy(spec, sql, snapshot_id):
        for table in read(spec, sql, snapshot_id):
            ids = table.column("id").to_pylist()
            yield table.filter(pa.array([i != 7 for i in ids])) if 7 in ids else table

    monkeypatch.setattr(database_read, "read_pg", lossy)


def _ingest(sluice_home, name: str):
    from flows.ingest_table import ingest_table
    from flows.runners import dask_task_runner

    runner = dask_task_runner(sluice_home)  # threads in this process: the lossy reader is theirs too
    return ingest_table.with_options(task_runner=runner)("dbtest", connection="shop", table=name)


def _last_run():
    with engine_for(get_settings().metadata_db_url()).connect() as conn:
        [run] = list_runs(conn, dataset="dbtest", limit=1)
        return get_run(conn, run.run_id)


def test_a_row_lost_between_the_snapshot_and_the_lake_fails_the_run_under_strict(
    prefect_api, sluice_home, tmp_path, monkeypatch, pg_table
):
    _contracts(tmp_path, monkeypatch, "strict")
    _table(pg_table, 1_000)
    _lose_a_row_in_transit(monkeypatch)

    with pytest.raises(CompletenessError, match=r"rows, [0-9,]+ were read"):
        _ingest(sluice_home, pg_table)

    run = _last_run()
    assert run.status == "failed"
    bad = [c for c in run.control_totals if not c.agrees]
    assert len(bad) == 1 and bad[0].source_rows == bad[0].read_rows + 1
    assert sum(c.source_rows for c in run.control_totals) == 1_000
    assert 7 not in lake_table("dbtest").column("id").to_pylist()  # the range with the loss is not committed


def test_the_same_loss_lands_with_a_warning_under_warn_with_the_sums_counted_in_the_snapshot(
    prefect_api, sluice_home, tmp_path, monkeypatch, pg_table
):
    _contracts(tmp_path, monkeypatch, {"policy": "warn", "sum": "amount"})
    _table(pg_table, 1_000)
    with monkeypatch.context() as patched:
        _lose_a_row_in_transit(patched)
        lossy = _ingest(sluice_home, pg_table)

    assert lossy.status == "completed" and lossy.rows_written == 999
    assert lossy.warnings["completeness:mismatch"] == 1
    assert sum(c.source_sum for c in lossy.control_totals) == pytest.approx(sum(g / 4.0 for g in range(1, 1_001)))


def _maria_table(name: str, rows: int) -> None:
    maria_exec(MARIA_DDL.format(t=f"`{name}`"))
    maria_exec(
        f"INSERT INTO `{name}` WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < %s) "
        "SELECT n, CONCAT('C', LPAD(n, 6, '0')), %s + INTERVAL n HOUR, n / 4.0, NULL, %s + INTERVAL n SECOND FROM g",
        (rows, T0.replace(tzinfo=None), T0.replace(tzinfo=None)),
    )


def _lose_a_mariadb_row_in_transit(monkeypatch) -> None:
    """The driver batch that carries id 7 arrives without it, after the reader counted its snapshot."""
    fetch = database_read.fetch_mariadb

    def lossy(cur, spec, columns, sql, params=()):
        for table in fetch(cur, spec, columns, sql, params):
            ids = table.column("id").to_pylist()
            yield table.filter(pa.array([i != 7 for i in ids])) if 7 in ids else table

    monkeypatch.setattr(database_read, "fetch_mariadb", lossy)


def test_mariadb_counts_in_its_readers_snapshot_and_a_lost_row_fails_strict(
    prefect_api, sluice_home, tmp_path, monkeypatch, maria_table
):
    _contracts(tmp_path, monkeypatch, {"policy": "strict", "sum": "amount"}, MARIADB_URL)
    _maria_table(maria_table, 1_000)
    with monkeypatch.context() as patched:
        _lose_a_mariadb_row_in_transit(patched)
        with pytest.raises(CompletenessError, match=r"1,000 rows, 999 were read"):
            _ingest(sluice_home, maria_table)

    failed = _last_run()
    [totals] = failed.control_totals
    assert (failed.status, totals.source_rows, totals.read_rows) == ("failed", 1_000, 999)
    assert totals.source_sum == pytest.approx(sum(g / 4.0 for g in range(1, 1_001)))
    assert totals.origin == "count(*) in the read's snapshot"
    landed = open_table(table_uri(get_settings().lake_root(), "dbtest"))
    assert landed is None or landed.to_pyarrow_table().num_rows == 0  # its one range is not committed

    whole = _ingest(sluice_home, maria_table)  # the reader delivers every row: the totals agree, the rows land
    assert (whole.status, whole.rows_written) == ("completed", 1_000)
    assert [(c.source_rows, c.read_rows, c.agrees) for c in whole.control_totals] == [(1_000, 1_000, True)]


def test_mariadb_the_same_loss_lands_with_a_warning_under_warn(
    prefect_api, sluice_home, tmp_path, monkeypatch, maria_table
):
    _contracts(tmp_path, monkeypatch, "warn", MARIADB_URL)
    _maria_table(maria_table, 300)
    _lose_a_mariadb_row_in_transit(monkeypatch)

    lossy = _ingest(sluice_home, maria_table)

    assert (lossy.status, lossy.rows_written) == ("completed", 299)
    assert lossy.warnings["completeness:mismatch"] == 1
    assert [(c.source_rows, c.read_rows) for c in lossy.control_totals] == [(300, 299)]
