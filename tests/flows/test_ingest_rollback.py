"""A commit that fails its verification is rolled back by the ingest-files flow, with an incident and its runbook."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ops.incidents.db import open_engine, store_url, transaction
from ops.incidents.service import ensure_incident, list_incidents
from sluice.lake.log import history
from sluice.lake.table import table_uri
from sluice.runs.metastore import engine_for, list_runs
from sluice.settings import get_settings
from tests.factories import OrderBatch, good_orders, mixed_orders, write_csv
from tests.flows.helpers import lake_table

pytestmark = pytest.mark.integration
CONTRACTS = Path(__file__).resolve().parents[2] / "sluice" / "contracts"
VERIFY = "verify:\n  quarantine_spike: true\n  min_runs: 3\n"


def _contracts(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "contracts"
    shutil.copytree(CONTRACTS, folder)
    orders = folder / "orders.yaml"
    orders.write_text(orders.read_text() + VERIFY)
    monkeypatch.setenv("SLUICE_CONTRACTS_DIR", str(folder))
    get_settings(fresh=True)


def test_a_quarantine_spike_rolls_the_commit_back_and_opens_an_incident_with_its_runbook(
    prefect_api, sluice_home, tmp_path, monkeypatch
):
    from flows.ingest_files import ingest_files
    from flows.runners import dask_task_runner

    _contracts(tmp_path, monkeypatch)
    flow = ingest_files.with_options(task_runner=dask_task_runner(sluice_home))
    for i in range(3):
        write_csv(tmp_path / "src" / f"good-{i}.csv", OrderBatch(rows=good_orders(10, start=1 + 100 * i)))
        assert flow("orders", str(tmp_path / "src")).rows_quarantined == 0
    before = lake_table("orders").num_rows
    write_csv(tmp_path / "src" / "bad.csv", mixed_orders(5, start=900))

    state = flow("orders", str(tmp_path / "src"), return_state=True)

    assert state.is_failed()
    assert lake_table("orders").num_rows == before
    with engine_for(get_settings().metadata_db_url()).connect() as conn:
        bad = list_runs(conn, dataset="orders", limit=1)[0]
    assert bad.lake_version is not None and bad.status == "failed"
    newest = history(table_uri(get_settings().lake_root(), "orders"), limit=1)[0]
    assert newest.operation == "RESTORE" and newest.run_id == bad.run_id
    assert newest.metadata["rollback"]["undone"] == [bad.lake_version]
    assert newest.metadata["rollback"]["reason"].startswith("quarantine-spike: ")
    assert bad.rollback_version == newest.version == bad.lake_version + 1
    assert bad.rows_rolled_back == bad.rows_written > 0
    assert bad.rows_read == bad.rows_written + bad.rows_quarantined + bad.rows_duplicate
    with transaction(open_engine(store_url(get_settings().home))) as session:
        (incident,) = [ensure_incident(session, i.id) for i in list_incidents(session)]
    assert incident.runbook_id == "lake-commit-rolled-back" and incident.dataset == "orders"
    assert "CommitVerificationError" in incident.signature
