"""The ingest-table flow on the real stack: Prefect test server, Dask worker processes, PostgreSQL, Delta lake."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import yaml
from prefect_dask import DaskTaskRunner

from sluice.runs.metastore import engine_for, get_run
from sluice.settings import get_settings
from tests.flows.helpers import lake_table, quarantine_table
from tests.sluice.sources.dbfixtures import PG_DDL, PG_URL, contract, pg_exec, pg_table  # noqa: F401

pytestmark = pytest.mark.integration
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture()
def contracts(sluice_home, tmp_path, monkeypatch):
    folder = tmp_path / "contracts"
    folder.mkdir()
    body = contract().model_dump(mode="json", exclude_defaults=True)
    body["freshness_sla"] = "1d"
    body["columns"][1]["pattern"] = r"^C\d{6}$"
    (folder / "dbtest.yaml").write_text(yaml.safe_dump(body))
    monkeypatch.setenv("SLUICE_CONTRACTS_DIR", str(folder))
    monkeypatch.setenv("SLUICE_DATABASES", f'{{"shop": "{PG_URL}"}}')
    return get_settings(fresh=True)


def _insert(table: str, first: int, last: int) -> None:
    pg_exec(
        f"INSERT INTO \"{table}\" SELECT g, 'C' || lpad(g::text, 6, '0'), %s + g * interval '1 hour', g / 4.0, "
        "NULL, %s + g * interval '1 second' FROM generate_series(%s::int, %s::int) g",
        (T0, T0, first, last),
    )


def run(address: str, **kwargs):
    from flows.ingest_table import ingest_table

    return ingest_table.with_options(task_runner=DaskTaskRunner(address=address))("dbtest", **kwargs)


def test_snapshot_then_incremental_with_counts_that_add_up(prefect_api, dask_address, contracts, pg_table):
    pg_exec(PG_DDL.format(t=f'"{pg_table}"'))
    _insert(pg_table, 1, 3000)
    pg_exec(f"UPDATE \"{pg_table}\" SET customer = 'bad' WHERE id IN (7, 8)")

    report = run(dask_address, connection="shop", table=pg_table)

    assert report.status == "completed"
    assert (report.rows_read, report.rows_written, report.rows_quarantined) == (3000, 2998, 2)
    assert len(report.files) == 4  # 2 workers x 2 key ranges
    assert sorted(lake_table("dbtest").column("id").to_pylist()) == [i for i in range(1, 3001) if i not in (7, 8)]
    assert quarantine_table().num_rows == 2
    with engine_for(get_settings().metadata_db_url()).connect() as conn:
        stored = get_run(conn, report.run_id)
    assert stored is not None and stored.rows_written == 2998
    assert "postgres@127.0.0.1:5432/test/" in report.source

    _insert(pg_table, 3001, 3500)
    report = run(dask_address, connection="shop", table=pg_table, mode="incremental", cursor="updated_at")
    # The first incremental run has no position yet: it reads everything, the snapshot's rows are duplicates.
    assert report.rows_read == 3500 and report.rows_written == 500 and report.rows_duplicate == 2998
    assert report.rows_quarantined == 2

    _insert(pg_table, 3501, 3600)
    report = run(
        dask_address, connection="shop", table=pg_table, mode="incremental", cursor="updated_at", lookback_seconds=10
    )
    assert (report.rows_read, report.rows_written, report.rows_duplicate) == (111, 100, 11)
    again = run(
        dask_address, connection="shop", table=pg_table, mode="incremental", cursor="updated_at", lookback_seconds=10
    )
    assert again.rows_read == 0 and again.lake_version == report.lake_version
    assert lake_table("dbtest").num_rows == 3598
    # each committing run profiled the rows it wrote; the run that committed nothing, none
    from ops.metrics.models import Selector
    from ops.metrics.store import open_store

    ids = Selector.parse('sluice_column_max{dataset="dbtest",column="id"}')
    (maxima,) = open_store(home=get_settings().home).query_range(
        ids, datetime(2000, 1, 1, tzinfo=timezone.utc), datetime.now(timezone.utc)
    )
    assert maxima.values.tolist() == [3000.0, 3500.0, 3600.0]


def test_unreachable_database_fails_the_run_and_opens_an_incident_with_its_runbook(
    prefect_api, dask_address, contracts
):
    from ops.incidents.db import open_engine, store_url, transaction
    from ops.incidents.service import ensure_incident, list_incidents
    from sluice.sources.database import DatabaseUnreachableError

    with pytest.raises(
        DatabaseUnreachableError, match=r"cannot reach postgresql://postgres@127\.0\.0\.1:1/test"
    ) as err:
        run(dask_address, connection="postgresql://postgres:pw@127.0.0.1:1/test", table="orders")
    assert ":pw@" not in str(err.value)
    with transaction(open_engine(store_url(contracts.home))) as session:
        (incident,) = [ensure_incident(session, i.id) for i in list_incidents(session)]
    assert incident.runbook_id == "database-unreachable"
