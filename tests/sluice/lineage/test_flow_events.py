"""A real ingest-files run (Prefect API, Dask cluster, Delta lake) sends START then COMPLETE or FAIL, valid against
the OpenLineage spec, to a local OpenLineage backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sluice.settings import get_settings
from tests.factories import mixed_orders, write_csv
from tests.flows.helpers import run_ingest, run_ingest_state
from tests.sluice.lineage.receiver import Received, lineage_receiver
from tests.sluice.lineage.spec import spec_errors
from tests.sluice.sources.dbfixtures import PG_DDL, PG_URL, contract, pg_exec, pg_table  # noqa: F401

pytestmark = pytest.mark.integration


@pytest.fixture()
def backend(sluice_home, monkeypatch) -> Iterator[Received]:
    with lineage_receiver() as got:
        monkeypatch.setenv("SLUICE_LINEAGE_TRANSPORT", "http")
        monkeypatch.setenv("SLUICE_LINEAGE_URL", got.url)
        monkeypatch.setenv("SLUICE_LINEAGE_NAMESPACE", "sluice-test")
        get_settings(fresh=True)
        yield got


def test_a_run_sends_start_then_complete_with_the_reports_counts(prefect_api, dask_address, backend, tmp_path):
    batch = mixed_orders(20)
    write_csv(tmp_path / "src" / "orders-1.csv", batch)

    report = run_ingest(dask_address, "orders", str(tmp_path / "src"))

    assert [e["eventType"] for e in backend.events] == ["START", "COMPLETE"]
    for event in backend.events:
        assert spec_errors(event) == []
        assert event["run"]["runId"] == report.run_id
        assert event["job"]["namespace"] == "sluice-test" and event["job"]["name"] == "ingest-files.orders"
    complete = backend.events[1]
    (source,) = complete["inputs"]
    assert (source["namespace"], source["name"]) == ("file", str(tmp_path / "src"))
    assert source["inputFacets"]["dataQualityMetrics"]["rowCount"] == report.rows_read == batch.total
    table, quarantine = complete["outputs"]
    assert table["name"].endswith("/lake/orders")
    assert table["outputFacets"]["outputStatistics"]["rowCount"] == report.rows_written == batch.unique_valid
    assert quarantine["outputFacets"]["outputStatistics"]["rowCount"] == report.rows_quarantined == batch.bad
    counts = complete["run"]["facets"]["sluice_counts"]
    assert counts["rowsDuplicate"] == report.rows_duplicate and counts["lakeVersion"] == report.lake_version
    assert "schema" in table["facets"] and "columnLineage" in table["facets"]


def test_a_run_that_fails_sends_start_then_fail_with_its_error(prefect_api, dask_address, backend, tmp_path):
    state = run_ingest_state(dask_address, "orders", str(tmp_path / "missing"))

    assert state.is_failed()
    assert [e["eventType"] for e in backend.events] == ["START", "FAIL"]
    assert all(spec_errors(e) == [] for e in backend.events)
    assert backend.events[1]["run"]["facets"]["errorMessage"]["message"]


def test_a_run_completes_when_the_lineage_backend_is_down(
    prefect_api, dask_address, sluice_home, monkeypatch, tmp_path
):
    monkeypatch.setenv("SLUICE_LINEAGE_TRANSPORT", "http")
    monkeypatch.setenv("SLUICE_LINEAGE_URL", "http://127.0.0.1:9")  # discard port: refused
    monkeypatch.setenv("SLUICE_LINEAGE_TIMEOUT_SECONDS", "1")
    get_settings(fresh=True)
    batch = mixed_orders(5)
    write_csv(tmp_path / "src" / "orders-1.csv", batch)

    report = run_ingest(dask_address, "orders", str(tmp_path / "src"))

    assert report.status == "completed" and report.rows_read == batch.total


def test_a_table_run_names_its_postgres_table_as_the_input(
    prefect_api, dask_address, backend, pg_table, tmp_path, monkeypatch
):
    import yaml
    from prefect_dask import DaskTaskRunner

    from flows.ingest_table import ingest_table

    folder = tmp_path / "contracts"
    folder.mkdir()
    body = contract().model_dump(mode="json", exclude_defaults=True)
    body["freshness_sla"] = "1d"
    (folder / "dbtest.yaml").write_text(yaml.safe_dump(body))
    monkeypatch.setenv("SLUICE_CONTRACTS_DIR", str(folder))
    monkeypatch.setenv("SLUICE_DATABASES", f'{{"shop": "{PG_URL}"}}')
    get_settings(fresh=True)
    pg_exec(PG_DDL.format(t=f'"{pg_table}"'))
    pg_exec(
        f"INSERT INTO \"{pg_table}\" SELECT g, 'C' || lpad(g::text, 6, '0'), now(), g / 4.0, NULL, now() "
        "FROM generate_series(1, 50) g"
    )

    report = ingest_table.with_options(task_runner=DaskTaskRunner(address=dask_address))(
        "dbtest", connection="shop", table=pg_table
    )

    assert [e["eventType"] for e in backend.events] == ["START", "COMPLETE"]
    assert all(spec_errors(e) == [] for e in backend.events)
    (source,) = backend.events[1]["inputs"]
    assert (source["namespace"], source["name"]) == ("postgres://127.0.0.1:5432", f"test.public.{pg_table}")
    assert source["inputFacets"]["dataQualityMetrics"]["rowCount"] == report.rows_read == 50
    assert backend.events[1]["job"]["name"] == "ingest-table.dbtest"
