"""A commit of ingest-table that fails its verification is rolled back, with an incident and its runbook; the
next incremental run reads the rolled-back rows again."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import yaml
from prefect_dask import DaskTaskRunner

from ops.incidents.db import open_engine, store_url, transaction
from ops.incidents.service import ensure_incident, list_incidents
from sluice.lake.log import history
from sluice.lake.table import table_uri
from sluice.runs.metastore import engine_for, list_runs
from sluice.settings import get_settings
from tests.flows.helpers import lake_table
from tests.sluice.sources.dbfixtures import PG_DDL, PG_URL, contract, pg_exec, pg_table  # noqa: F401

pytestmark = pytest.mark.integration
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
BATCH = 10


@pytest.fixture()
def verified(sluice_home, tmp_path, monkeypatch):
    folder = tmp_path / "contracts"
    folder.mkdir()
    body = contract().model_dump(mode="json", exclude_defaults=True)
    body["columns"][1]["pattern"] = r"^C\d{6}$"
    body["verify"] = {"quarantine_spike": True, "min_runs": 3}
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


def _incremental(address: str, table: str, **kwargs):
    from flows.ingest_table import ingest_table

    flow = ingest_table.with_options(task_runner=DaskTaskRunner(address=address))
    return flow("dbtest", connection="shop", table=table, mode="incremental", cursor="updated_at", **kwargs)


def test_a_quarantine_spike_rolls_the_table_commit_back_and_the_next_run_reads_its_rows_again(
    prefect_api, dask_address, verified, pg_table
):
    pg_exec(PG_DDL.format(t=f'"{pg_table}"'))
    for i in range(3):
        _insert(pg_table, 1 + BATCH * i, BATCH * (i + 1))
        assert _incremental(dask_address, pg_table, lookback_seconds=0).rows_quarantined == 0
    before = sorted(lake_table("dbtest").column("id").to_pylist())
    _insert(pg_table, 31, 40)
    pg_exec(f"UPDATE \"{pg_table}\" SET customer = 'bad' WHERE id BETWEEN 31 AND 35")

    state = _incremental(dask_address, pg_table, lookback_seconds=0, return_state=True)

    assert state.is_failed()
    assert sorted(lake_table("dbtest").column("id").to_pylist()) == before == list(range(1, 31))
    with engine_for(get_settings().metadata_db_url()).connect() as conn:
        bad = list_runs(conn, dataset="dbtest", limit=1)[0]
    assert bad.status == "failed" and bad.lake_version is not None
    newest = history(table_uri(get_settings().lake_root(), "dbtest"), limit=1)[0]
    assert newest.operation == "RESTORE" and newest.run_id == bad.run_id
    assert newest.metadata["rollback"]["undone"] == [bad.lake_version]
    assert bad.rollback_version == newest.version and bad.rows_rolled_back == bad.rows_written == 5
    assert bad.rows_read == bad.rows_written + bad.rows_quarantined + bad.rows_duplicate == BATCH
    with transaction(open_engine(store_url(get_settings().home))) as session:
        (incident,) = [ensure_incident(session, i.id) for i in list_incidents(session)]
    assert incident.runbook_id == "lake-commit-rolled-back" and incident.dataset == "dbtest"
    assert "CommitVerificationError" in incident.signature

    # The rows are corrected (their cursor moves): the next run resumes before the rolled-back batch, reads all of it.
    pg_exec(
        f"UPDATE \"{pg_table}\" SET customer = 'C' || lpad(id::text, 6, '0'), updated_at = %s "
        "WHERE id BETWEEN 31 AND 35",
        (T0 + timedelta(minutes=5),),
    )
    again = _incremental(dask_address, pg_table, lookback_seconds=0)

    assert again.status == "completed" and (again.rows_read, again.rows_written) == (BATCH, BATCH)
    assert sorted(lake_table("dbtest").column("id").to_pylist()) == list(range(1, 41))
