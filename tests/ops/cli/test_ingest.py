"""``ops ingest``: runs here or through a deployment on the real Prefect test server, its summary, exits 0, 1 and 2."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from deltalake import DeltaTable

from ops.cli import _flow_runs
from ops.cli._ingest_outcome import IngestOutcome, finish
from ops.cli._utilities import OutputFormat, console
from ops.incidents.db import open_engine, store_url, transaction
from ops.incidents.service import list_incidents
from sluice.lake.table import table_uri
from sluice.runs.metastore import engine_for, get_run, list_runs
from tests.factories import OrderBatch, csv_text, good_orders, mixed_orders, write_csv
from tests.ops.factories import invoke, run_report, sluice_home

ROOT = Path(__file__).resolve().parents[3]


def orders(folder: Path, files: int = 3) -> list[OrderBatch]:
    """``files`` CSV files of orders under ``folder``: valid rows, bad rows and duplicates."""
    batches = [mixed_orders(20, start=1 + i * 1000) for i in range(files)]
    for i, batch in enumerate(batches):
        write_csv(folder / f"orders-{i}.csv", batch)
    return batches


def lake_rows(settings) -> int:
    return DeltaTable(table_uri(settings.lake_root(), "orders")).to_pyarrow_table().num_rows


def recorded_runs(settings) -> list:
    with engine_for(settings.metadata_db_url()).connect() as conn:
        return list_runs(conn)


def incidents(settings) -> list:
    with transaction(open_engine(store_url(settings.home))) as session:
        return list_incidents(session)


def counts(batches: list[OrderBatch]) -> tuple[int, int, int, int]:
    """Read, written, quarantined and duplicate rows of a first ingestion of ``batches``."""
    return (
        sum(b.total for b in batches),
        sum(b.unique_valid for b in batches),
        sum(b.bad for b in batches),
        sum(b.duplicates for b in batches),
    )


def summary_row(stdout: str, numbers: tuple[int, ...]) -> re.Match[str] | None:
    """The summary table's row with ``numbers`` whole (thousands separators, never cut), in order."""
    return re.search(r"^\s*" + r"\s+".join(f"{n:,}" for n in numbers) + r"\s*$", stdout, re.MULTILINE)


# --- usage errors and a missing source: nothing runs, no Prefect needed ---------------------------------------


def test_an_unknown_dataset_exits_2_listing_the_known_contracts(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)
    orders(tmp_path / "src", files=1)

    result = invoke("ingest", "ordres", str(tmp_path / "src"))

    assert result.exit_code == 2
    assert "error: unknown dataset: no contract named 'ordres'" in result.stderr
    assert "did you mean 'orders'?" in result.stderr and "known contracts: customers, orders" in result.stderr


def test_an_invalid_dataset_name_exits_2_listing_the_known_contracts(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)

    result = invoke("ingest", "../orders", str(tmp_path))

    assert result.exit_code == 2 and "known contracts: customers, orders" in result.stderr


def test_a_source_no_filesystem_can_open_exits_2(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)

    result = invoke("ingest", "orders", "nosuch://bucket/orders")

    assert result.exit_code == 2
    assert "bad source 'nosuch://bucket/orders': no filesystem for nosuch://" in result.stderr
    assert "hint: give a folder or a file" in result.stderr


def test_a_missing_source_exits_1_with_a_hint_and_records_nothing(monkeypatch, tmp_path):
    settings = sluice_home(monkeypatch, tmp_path)

    result = invoke("ingest", "orders", str(tmp_path / "no-such-folder"))

    assert result.exit_code == 1
    assert f"error: source {tmp_path / 'no-such-folder'} does not exist" in result.stderr
    assert "hint: check the path; nothing was run or recorded" in result.stderr
    assert recorded_runs(settings) == [] and not (settings.home / "incidents.db").exists()


def test_no_wait_without_a_deployment_and_another_flows_deployment_exit_2(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)
    orders(tmp_path / "src", files=1)

    local = invoke("ingest", "orders", str(tmp_path / "src"), "--no-wait")
    other = invoke("ingest", "orders", str(tmp_path / "src"), "--deployment", "lake-maintenance/lake-maintenance")

    assert local.exit_code == 2 and "--no-wait needs --deployment" in local.stderr
    assert other.exit_code == 2 and "is not a deployment of ingest-files" in other.stderr


def test_the_summary_keeps_every_number_whole_at_80_columns(monkeypatch, capsys):
    monkeypatch.setattr(console, "_width", 80)
    report = run_report(
        "0b7e6c1a-2f4d-4c55-9a51-7d0e1e5b3c21",
        rows_read=9_876_543_210,
        rows_written=9_765_432_109,
        rows_quarantined=98_765_432,
        rows_duplicate=12_345_669,
    )
    report.lake_version = 12_345
    outcome = IngestOutcome("orders", "/data/orders", "*", None, report.run_id, None, "Completed", report=report)

    finish(outcome, OutputFormat.TABLE)

    out = capsys.readouterr().out
    assert summary_row(out, (9_876_543_210, 9_765_432_109, 98_765_432, 12_345_669, 12_345)), out
    assert all(len(line) <= 80 for line in out.splitlines()), out
    assert f"next: ops runs show {report.run_id}" in out and "ops quarantine list --run" in out


# --- local runs: the flow in this process, on the real Prefect test server -------------------------------------


@pytest.mark.integration
def test_a_local_ingest_lands_the_rows_and_ends_with_the_summary_at_80_columns(prefect_api, monkeypatch, tmp_path):
    settings = sluice_home(monkeypatch, tmp_path)
    monkeypatch.setattr(console, "_width", 80)  # a terminal 80 columns wide
    batches = orders(tmp_path / "src")
    read, written, quarantined, duplicate = counts(batches)

    result = invoke("ingest", "orders", str(tmp_path / "src"), "--pattern", "*.csv")

    assert result.exit_code == 0, result.stderr
    assert lake_rows(settings) == written
    (run,) = recorded_runs(settings)
    assert (run.status, run.rows_read, run.rows_written) == ("completed", read, written)
    out = result.stdout
    assert re.search(r"3 of 3 \([\d.]+ KB\): 3 staged", out) and f"{read:,} read, {quarantined:,} quarantined" in out
    assert f"version {run.lake_version}: {written:,} written, {duplicate:,} duplicate\norders: completed in" in out
    assert summary_row(out, (read, written, quarantined, duplicate, run.lake_version)), out
    assert "files: 3 committed, 0 skipped, 0 failed" in out
    assert f"/runs/flow-run/{run.run_id}" in out and f"next: ops runs show {run.run_id}" in out
    assert all(len(line) <= 80 for line in out.splitlines() if "/runs/flow-run/" not in line), out


@pytest.mark.integration
def test_json_has_the_run_its_flow_run_and_the_next_steps_only_on_stdout(prefect_api, monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)
    read, written, quarantined, duplicate = counts(orders(tmp_path / "src", files=2))

    result = invoke("ingest", "orders", str(tmp_path / "src"), "-o", "json")

    assert result.exit_code == 0, result.stderr
    found = json.loads(result.stdout)
    assert (found["state"], found["completed"], found["deployment"], found["incident"]) == (
        "Completed",
        True,
        None,
        None,
    )
    run = found["run"]
    assert (run["rows_read"], run["rows_written"], run["rows_quarantined"], run["rows_duplicate"]) == (
        read,
        written,
        quarantined,
        duplicate,
    )
    assert run["run_id"] == found["flow_run_id"] and found["flow_run_url"].endswith(found["flow_run_id"])
    assert found["next"][0] == f"ops runs show {found['flow_run_id']}"


@pytest.mark.integration
def test_a_failed_run_exits_1_naming_its_incident_and_what_to_do_next(prefect_api, monkeypatch, tmp_path):
    settings = sluice_home(monkeypatch, tmp_path)
    (good,) = orders(tmp_path / "src", files=1)
    whole = gzip.compress(csv_text(OrderBatch(rows=good_orders(2000, start=5000))).encode())
    (tmp_path / "src" / "orders-9.csv.gz").write_bytes(whole[: len(whole) // 2])  # cut off mid-stream

    result = invoke("ingest", "orders", str(tmp_path / "src"))

    assert result.exit_code == 1
    (incident,) = incidents(settings)
    (run,) = recorded_runs(settings)
    assert incident.flow_run_id == run.run_id and run.status == "failed"
    assert "error: ingestion of orders failed: 1 file(s) of orders could not be read" in result.stderr
    assert f"its incident is {incident.ref}: ops incident show {incident.ref}" in result.stderr
    assert f"ops runs show {run.run_id}" in result.stderr
    assert "the other files were committed" in result.stderr
    out = result.stdout
    assert "orders: failed" in out and "files: 1 committed, 0 skipped, 1 failed" in out
    assert summary_row(out, (good.total, good.unique_valid, good.bad, good.duplicates, run.lake_version)), out
    assert "failed: " in out and "orders-9.csv.gz" in out
    assert f"next: ops incident show {incident.ref}" in out and f"ops runs show {run.run_id}" in out


# --- deployments: runs created through the API, a worker's engine runs them -------------------------------------


@pytest.fixture()
def deployment(prefect_api, monkeypatch) -> str:
    """A deployment of ingest-files on the test server, named after the test; runs wait for a worker."""
    from flows.ingest_files import ingest_files

    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(_flow_runs, "POLL_SECONDS", 0.2)
    name = f"orders-{os.urandom(4).hex()}"
    ingest_files.to_deployment(name=name).apply()
    return name


@contextmanager
def worker(api_url: str, deployment: str) -> Iterator[list[int]]:
    """A process worker's part: the first run of ``deployment`` runs with Prefect's engine in a process of its own."""
    from prefect import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
    from prefect.settings import PREFECT_API_URL, temporary_settings

    exits: list[int] = []

    def work() -> None:
        with temporary_settings(updates={PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                runs = client.read_flow_runs(
                    deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[deployment]))
                )
                if runs:
                    env = {**os.environ, "PREFECT_API_URL": api_url, "PYTHONPATH": str(ROOT)}
                    done = subprocess.run(
                        [sys.executable, "-m", "prefect.engine", str(runs[0].id)],
                        cwd=ROOT,
                        env=env,
                        capture_output=True,
                        timeout=300,
                        check=False,
                    )
                    exits.append(done.returncode)
                    return
                time.sleep(0.2)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    try:
        yield exits
    finally:
        thread.join(timeout=300)


def flow_run(flow_run_id: str):
    from prefect import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id)


@pytest.mark.integration
def test_no_wait_creates_the_deployments_run_with_its_parameters_and_exits_0(deployment, monkeypatch, tmp_path):
    settings = sluice_home(monkeypatch, tmp_path)

    result = invoke(
        "ingest",
        "orders",
        "s3://drop/orders",
        "--pattern",
        "*.csv",
        "--deployment",
        deployment,
        "--no-wait",
        "-o",
        "json",
    )

    assert result.exit_code == 0, result.stderr
    found = json.loads(result.stdout)
    run = flow_run(found["flow_run_id"])
    assert run.parameters == {"dataset": "orders", "source": "s3://drop/orders", "pattern": "*.csv"}
    assert run.state.is_scheduled() and (found["state"], found["waited"]) == ("Scheduled", False)
    assert found["deployment"] == f"ingest-files/{deployment}" and found["run"] is None
    assert f"({found['flow_run_id']}) of ingest-files/{deployment}" in result.stderr
    assert found["next"] == [
        f"prefect flow-run inspect {found['flow_run_id']}",
        f"ops runs show {found['flow_run_id']} (once it has run)",
    ]
    assert recorded_runs(settings) == []


@pytest.mark.integration
def test_an_unknown_deployment_exits_2(deployment, monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)

    result = invoke("ingest", "orders", str(tmp_path), "--deployment", "no-such-deployment")

    assert result.exit_code == 2
    assert "no deployment ingest-files/no-such-deployment on this Prefect server" in result.stderr


@pytest.mark.integration
def test_wait_follows_the_run_to_completed_and_prints_its_summary(prefect_api, deployment, monkeypatch, tmp_path):
    settings = sluice_home(monkeypatch, tmp_path)
    read, written, quarantined, duplicate = counts(orders(tmp_path / "src", files=2))

    with worker(prefect_api, deployment) as exits:
        result = invoke("ingest", "orders", str(tmp_path / "src"), "--deployment", f"ingest-files/{deployment}")

    assert exits == [0]
    assert result.exit_code == 0, result.stderr
    (run,) = recorded_runs(settings)
    assert run.rows_written == written == lake_rows(settings)
    states = re.findall(r"^\d\d:\d\d:\d\d (\w+)", result.stdout, re.MULTILINE)
    assert states[0] == "Scheduled" and states[-1] == "Completed" and "Running" in states
    assert summary_row(result.stdout, (read, written, quarantined, duplicate, run.lake_version)), result.stdout
    assert f"next: ops runs show {run.run_id}" in result.stdout


@pytest.mark.integration
def test_wait_on_a_run_that_fails_exits_1_naming_the_incident_its_worker_opened(
    prefect_api, deployment, monkeypatch, tmp_path
):
    settings = sluice_home(monkeypatch, tmp_path)
    missing = tmp_path / "no-such-folder"  # resolved on the worker's host: the run itself fails

    with worker(prefect_api, deployment) as exits:
        result = invoke("ingest", "orders", str(missing), "--deployment", deployment)

    assert len(exits) == 1, "the worker ran the flow run"
    assert result.exit_code == 1
    (incident,) = incidents(settings)
    run = get_run(engine_for(settings.metadata_db_url()).connect(), incident.flow_run_id)
    assert run is not None and run.status == "failed"
    assert re.search(r"^\d\d:\d\d:\d\d Failed", result.stdout, re.MULTILINE)
    assert "error: ingestion of orders failed: " in result.stderr and "does not exist" in result.stderr
    assert f"its incident is {incident.ref}" in result.stderr
    assert f"next: ops incident show {incident.ref}" in result.stdout
