"""``ops backfill`` on the Prefect test server: one run a day, done days skipped, the lake unchanged by repeats.

The runs ingest under the Prefect global concurrency limit ``backfill-orders``;
the test worker runs more of them at once than the limit allows, so the limit,
not the worker, is what bounds them.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from ops.cli import _backfill_runs
from sluice.lake.table import table_uri
from sluice.runs.metastore import engine_for, list_runs
from tests.factories import OrderBatch, good_orders, write_csv
from tests.ops.factories import invoke, sluice_home

ROOT = Path(__file__).resolve().parents[3]
FIRST = date(2024, 3, 1)
DAYS = 30
ORDERS_A_DAY = 3


def daily_files(root: Path, days: int = DAYS) -> None:
    """One small CSV of orders a day under ``root/YYYY-MM-DD/``, order ids unique across days."""
    for i in range(days):
        day = FIRST + timedelta(days=i)
        batch = OrderBatch(rows=good_orders(ORDERS_A_DAY, start=1 + i * 100, day=day.isoformat()))
        write_csv(root / day.isoformat() / "orders.csv", batch)


def lake(settings) -> pa.Table:
    table = DeltaTable(table_uri(settings.lake_root(), "orders")).to_pyarrow_table()
    return table.sort_by([("order_id", "ascending")])


def lake_version(settings) -> int:
    return DeltaTable(table_uri(settings.lake_root(), "orders")).version()


@pytest.fixture()
def deployment(prefect_api, monkeypatch) -> str:
    """A deployment of ingest-files on the test server, named after the test; its runs wait for a worker."""
    from flows.ingest_files import ingest_files

    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(_backfill_runs, "POLL_SECONDS", 0.2)
    name = f"orders-{os.urandom(4).hex()}"
    ingest_files.to_deployment(name=name).apply()
    return name


@contextmanager
def worker(api_url: str, deployment: str, slots: int = 2) -> Iterator[list[str]]:
    """Runs every Scheduled run of ``deployment`` with Prefect's engine, ``slots`` at a time; yields the runs' ids."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.flow_engine import run_flow
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.ingest_files import ingest_files

    taken: list[str] = []
    stop = threading.Event()

    def execute(run) -> None:
        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            run_flow(ingest_files, flow_run=run, parameters=run.parameters, return_type="state")

    def work(pool: ThreadPoolExecutor) -> None:
        with temporary_settings(updates={PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
            while not stop.is_set():
                runs = client.read_flow_runs(
                    deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[deployment])),
                    flow_run_filter=FlowRunFilter(
                        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))
                    ),
                )
                for run in runs:
                    if str(run.id) not in taken:
                        taken.append(str(run.id))
                        pool.submit(execute, run)
                stop.wait(0.2)

    with ThreadPoolExecutor(slots) as pool:
        thread = threading.Thread(target=work, args=(pool,), daemon=True)
        thread.start()
        try:
            yield taken
        finally:
            stop.set()
            thread.join(timeout=30)


def most_ingesting_at_once(settings) -> int:
    """The most recorded runs of orders whose ingest (started_at to finished_at) overlapped, from the runs' records."""
    with engine_for(settings.metadata_db_url()).connect() as conn:
        runs = list_runs(conn, dataset="orders", limit=1000)
    spans = [(r.started_at, r.finished_at) for r in runs if r.finished_at is not None]
    return max(sum(s <= start < f for s, f in spans) for start, _ in spans)


def runs_of(deployment: str) -> list:
    from prefect import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[deployment])))


def limit_of(name: str) -> int:
    from prefect import get_client

    with get_client(sync_client=True) as client:
        return client.read_global_concurrency_limit_by_name(name).limit


def backfill(deployment: str, source: str, *extra: str, days: int = DAYS, output: str = "json", limit: int = 2):
    last = FIRST + timedelta(days=days - 1)
    return invoke(
        "backfill",
        "orders",
        "--from",
        FIRST.isoformat(),
        "--to",
        last.isoformat(),
        "--source",
        source,
        "--deployment",
        deployment,
        "--concurrency",
        str(limit),
        "-o",
        output,
        *extra,
    )


@pytest.mark.integration
def test_a_backfill_of_30_days_twice_gives_the_same_lake_as_one(
    prefect_api, dask_address, deployment, monkeypatch, tmp_path
):
    settings = sluice_home(monkeypatch, tmp_path, dask_address=dask_address)
    daily_files(tmp_path / "drop")
    source = str(tmp_path / "drop" / "{date}")

    with worker(prefect_api, deployment, slots=4) as taken:
        first = backfill(deployment, source)
        at_once = most_ingesting_at_once(settings)
        once, version = lake(settings), lake_version(settings)
        again = backfill(deployment, source)
        rerun = backfill(deployment, source, "--rerun")

    assert first.exit_code == 0, first.stderr
    found = json.loads(first.stdout)
    assert (found["ran"], found["skipped"], found["failed"], found["completed"]) == (DAYS, 0, 0, True)
    assert [d["state"] for d in found["days"]] == ["Completed"] * DAYS
    assert found["days"][4]["source"] == str(tmp_path / "drop" / "2024-03-05")
    assert once.num_rows == DAYS * ORDERS_A_DAY
    assert at_once <= 2, f"{at_once} runs ingested at once under --concurrency 2"
    assert limit_of("backfill-orders") == 2
    assert again.exit_code == 0, again.stderr
    assert (json.loads(again.stdout)["ran"], json.loads(again.stdout)["skipped"]) == (0, DAYS)
    assert rerun.exit_code == 0, rerun.stderr
    assert json.loads(rerun.stdout)["ran"] == DAYS
    assert len(taken) == 2 * DAYS, "the skipping backfill created no run"
    assert lake(settings).equals(once) and lake_version(settings) == version


@pytest.mark.integration
def test_a_resumed_backfill_runs_only_the_days_that_did_not_complete(
    prefect_api, dask_address, deployment, monkeypatch, tmp_path
):
    settings = sluice_home(monkeypatch, tmp_path, dask_address=dask_address)
    daily_files(tmp_path / "drop", days=4)  # the last two days' files are not delivered yet
    source = str(tmp_path / "drop" / "{date}")

    with worker(prefect_api, deployment):
        partial = backfill(deployment, source, days=6, output="table")
        daily_files(tmp_path / "drop", days=6)
        resumed = backfill(deployment, source, days=6)

    assert partial.exit_code == 1
    rows = re.findall(r"^\W+(2024-03-0\d)\W+(\w+)", partial.stdout, re.MULTILINE)
    assert [day for day, state in rows if state != "Completed"] == ["2024-03-05", "2024-03-06"], partial.stdout
    assert len(rows) == 6 and max(len(line) for line in partial.stdout.splitlines()) <= 80
    assert "2 of 6 day(s) did not complete" in partial.stderr and "completed days are skipped" in partial.stderr
    assert resumed.exit_code == 0, resumed.stderr
    found = json.loads(resumed.stdout)
    assert (found["ran"], found["skipped"]) == (2, 4)
    assert lake(settings).num_rows == 6 * ORDERS_A_DAY


@pytest.mark.integration
def test_a_backfill_resumed_after_an_interruption_follows_the_runs_it_had_scheduled(
    prefect_api, dask_address, deployment, monkeypatch, tmp_path
):
    settings = sluice_home(monkeypatch, tmp_path, dask_address=dask_address)
    daily_files(tmp_path / "drop", days=6)
    source = str(tmp_path / "drop" / "{date}")
    # The interrupted backfill: it had scheduled the first three days' runs, and no worker had taken them yet.
    from sluice.runs.backfill import plan_backfill

    plan = plan_backfill(source, FIRST, FIRST + timedelta(days=5), "*", set())
    interrupted = _backfill_runs.DayRuns(f"ingest-files/{deployment}", "orders", "backfill-orders", lambda _: None)
    scheduled = {str(interrupted._create(day).id) for day in plan.slices[:3]}

    with worker(prefect_api, deployment, slots=4):
        resumed = backfill(deployment, source, days=6, limit=3)

    assert resumed.exit_code == 0, resumed.stderr
    found = json.loads(resumed.stdout)
    assert (found["ran"], found["resumed"], found["failed"]) == (6, 3, 0)
    assert {d["flow_run_id"] for d in found["days"][:3]} == scheduled
    assert len(runs_of(deployment)) == 6, "a day of the interrupted backfill got a second run"
    assert all(r.parameters["concurrency_slot"] == "backfill-orders" for r in runs_of(deployment))
    assert lake(settings).num_rows == 6 * ORDERS_A_DAY and limit_of("backfill-orders") == 3


def test_a_range_ending_before_it_starts_or_a_template_without_date_exits_2(deployment, monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)

    backwards = invoke(
        "backfill", "orders", "--from", "2024-03-05", "--to", "2024-03-01", "-s", "/d/{date}", "-D", deployment
    )
    no_date = invoke("backfill", "orders", "--from", "2024-03-01", "--to", "2024-03-05", "-s", "/d/x", "-D", deployment)
    unknown = invoke(
        "backfill", "orders", "--from", "2024-03-01", "--to", "2024-03-05", "-s", "/d/{date}", "-D", "no-such"
    )

    assert backwards.exit_code == 2 and "--to 2024-03-01 is before --from 2024-03-05" in backwards.stderr
    assert no_date.exit_code == 2 and "has no {date} field" in no_date.stderr
    assert unknown.exit_code == 2 and "no deployment ingest-files/no-such on this Prefect server" in unknown.stderr
