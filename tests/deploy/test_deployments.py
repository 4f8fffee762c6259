"""The deployments of prefect.yaml, registered the documented way and run by a real worker.

A copy of the checkout is deployed with ``prefect --no-prompt deploy --all``
from a shell without SLUICE_ENV or SLUICE_HOME (the defaults: dev, and the
copy's ``.sluice``) to the session's Prefect server; a ``prefect worker``
process in dev runs ``ingest-files/orders-dev`` and ``chaos-drill/chaos-drill``
(one experiment) to Completed; a drill of prod is refused. A deploy missing a
value it cannot default fails before registering anything.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest
from deltalake import DeltaTable
from prefect import get_client
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment

from chaos.journal import list_drills
from demo.samples import generate_orders
from flows.demo import ensure_work_pool
from ops.incidents.db import open_engine, store_url, transaction
from sluice.lake.table import table_uri
from tests.sluice.sources.dbfixtures import PG_URL, pg_exec, unique
from tests.sluice.sources.streams.brokers import produce_kafka
from tests.sluice.sources.streams.conftest import KafkaCluster, kafka_cluster  # noqa: F401 - the session fixture

pytestmark = [pytest.mark.integration, pytest.mark.serial]
ROOT = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).parent / "prefect")
NOT_COPIED = (".git", ".venv", ".sluice", "site", "__pycache__", ".pytest_cache", "tests", "docs", "bench")
QUICK_DRILL = "source-schema-change"
RUNS_WITHIN_SECONDS = 150
SHOP_ORDERS = 500
STREAM_ORDERS = 120
ORDERS_DDL = """CREATE TABLE {t} (
    order_id bigint PRIMARY KEY, customer_id text NOT NULL, order_ts timestamptz NOT NULL, status text,
    amount double precision, currency text, quantity bigint, discount double precision, channel text,
    country text, email text, updated_at timestamptz NOT NULL)"""


@pytest.fixture()
def shop_orders() -> Iterator[str]:
    """A shop database's orders table on the test PostgreSQL: order ids far above the generated files' ones."""
    schema = unique("shop")
    table = f"{schema}.orders"
    pg_exec(f"CREATE SCHEMA {schema}")
    pg_exec(ORDERS_DDL.format(t=table))
    pg_exec(
        f"INSERT INTO {table} SELECT 900000 + g, 'C' || lpad(g::text, 6, '0'), now() - g * interval '1 minute', "
        "'paid', g * 1.5, 'EUR', 1 + g %% 5, NULL, 'web', 'DE', NULL, now() FROM generate_series(1, %s) g",
        (SHOP_ORDERS,),
    )
    yield table
    pg_exec(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture()
def checkout(tmp_path: Path) -> Path:
    """A copy of the checkout, as a worker's host would have it; its .sluice is the deployments' home."""
    copy = tmp_path / "checkout"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(*NOT_COPIED))
    return copy.resolve()


def shell(api_url: str, checkout: Path, **extra: str) -> dict[str, str]:
    """The environment of a deploying shell: no SLUICE_* variable unless given, the copy's code first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
    env.update(
        {
            "PREFECT_API_URL": api_url,
            "PREFECT_HOME": str(checkout.parent / "prefect-home"),
            "PYTHONPATH": str(checkout),
            "SLUICE_NOTIFY_BACKGROUND": "false",
        },
        **extra,
    )
    return env


def deploy(api_url: str, checkout: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = shell(api_url, checkout, **extra)
    ensure_work_pool(PREFECT, env)
    return subprocess.run(
        [PREFECT, "--no-prompt", "deploy", "--all"],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.fixture()
def worker(prefect_api: str, checkout: Path) -> Iterator[Path]:
    """``prefect worker start`` on the pool, in dev; yields its log; the worker and its runs are killed after."""
    log = checkout.parent / "worker.log"
    env = shell(prefect_api, checkout, SLUICE_ENV="dev", PREFECT_WORKER_QUERY_SECONDS="2")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [PREFECT, "worker", "start", "--pool", "sluice-process", "--type", "process"],
            cwd=checkout.parent,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield log
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the worker if it hung, and any flow run it started
        proc.wait(timeout=15)


def wait_final(run_ids: list[UUID], log: Path) -> dict[UUID, FlowRun]:
    deadline = time.monotonic() + RUNS_WITHIN_SECONDS
    with get_client(sync_client=True) as client:
        while True:
            runs = {i: client.read_flow_run(i) for i in run_ids}
            if all(r.state is not None and r.state.is_final() for r in runs.values()):
                return runs
            if time.monotonic() > deadline:
                states = {r.name: r.state.name if r.state else None for r in runs.values()}
                pytest.fail(
                    f"runs not final after {RUNS_WITHIN_SECONDS} s: {states}\nworker log:\n{log.read_text()[-3000:]}"
                )
            time.sleep(2)


def registered(name: str):
    with get_client(sync_client=True) as client:
        return client.read_deployment_by_name(name)


def order_event(order_id: int) -> bytes:
    body = {
        "order_id": order_id,
        "customer_id": "C000042",
        "order_ts": "2024-03-05T10:00:00Z",
        "status": "paid",
        "amount": 12.5,
        "currency": "EUR",
        "quantity": 2,
        "country": "DE",
    }
    return json.dumps(body).encode()


def test_deployments_registered_from_a_bare_shell_run_to_completion(
    prefect_api, checkout, worker, shop_orders, kafka_cluster: KafkaCluster
):
    home = checkout / ".sluice"
    orders = generate_orders(home / "samples" / "orders", rows=2_000, files=2, seed=11)

    done = deploy(prefect_api, checkout)

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Value for placeholder" not in done.stdout + done.stderr
    ingest, drill = registered("ingest-files/orders-dev"), registered("chaos-drill/chaos-drill")
    assert ingest.job_variables["env"]["SLUICE_ENV"] == "dev"
    assert ingest.job_variables["env"]["SLUICE_HOME"] == str(home)
    assert ingest.parameters["source"] == str(home / "samples" / "orders")
    assert ingest.pull_steps == [{"prefect.deployments.steps.set_working_directory": {"directory": str(checkout)}}]
    assert drill.job_variables["env"]["SLUICE_ENV"] == "staging"
    table = registered("ingest-table/orders-table")
    assert (table.parameters["mode"], table.parameters["cursor"]) == ("incremental", "order_id")
    stream = registered("ingest-stream/orders-stream")
    assert (stream.parameters["broker"], stream.parameters["topic"]) == ("kafka", "orders")

    prod = run_deployment(
        "chaos-drill/chaos-drill", parameters={"experiments": [QUICK_DRILL], "env": "prod"}, timeout=0
    )
    ingest_run = run_deployment("ingest-files/orders-dev", timeout=0)
    (refused,) = wait_final([prod.id], worker).values()
    drill_run = run_deployment("chaos-drill/chaos-drill", parameters={"experiments": [QUICK_DRILL]}, timeout=0)
    runs = wait_final([ingest_run.id, drill_run.id], worker)

    assert refused.state.is_failed() and "refusing to drill prod" in refused.state.message, refused.state
    for run in runs.values():
        assert run.state.is_completed(), f"{run.name}: {run.state}\nworker log:\n{worker.read_text()[-3000:]}"
    lake = DeltaTable(table_uri(str(home / "lake"), "orders")).to_pyarrow_table()
    assert lake.num_rows == orders.rows_unique_valid > 0
    # The database deployment, pointed at the shop table, adds its rows to the same orders table.
    table_run = run_deployment(
        "ingest-table/orders-table", parameters={"connection": PG_URL, "table": shop_orders}, timeout=0
    )
    (done_table,) = wait_final([table_run.id], worker).values()
    assert done_table.state.is_completed(), f"{done_table.state}\nworker log:\n{worker.read_text()[-3000:]}"
    lake = DeltaTable(table_uri(str(home / "lake"), "orders")).to_pyarrow_table()
    assert lake.num_rows == orders.rows_unique_valid + SHOP_ORDERS
    # The stream deployment, pointed at the mock Kafka cluster, adds the topic's orders.
    topic = kafka_cluster.topic()
    produce_kafka(kafka_cluster.bootstrap, topic, [order_event(700_000 + i) for i in range(STREAM_ORDERS)])
    stream_run = run_deployment(
        "ingest-stream/orders-stream",
        parameters={"address": kafka_cluster.bootstrap, "topic": topic, "follow_seconds": 0, "idle_seconds": 3},
        timeout=0,
    )
    (done_stream,) = wait_final([stream_run.id], worker).values()
    assert done_stream.state.is_completed(), f"{done_stream.state}\nworker log:\n{worker.read_text()[-3000:]}"
    lake = DeltaTable(table_uri(str(home / "lake"), "orders")).to_pyarrow_table()
    assert lake.num_rows == orders.rows_unique_valid + SHOP_ORDERS + STREAM_ORDERS
    with transaction(open_engine(store_url(home))) as session:
        drills = [(d.experiment, d.environment, d.status, d.flow_run_id) for d in list_drills(session)]
    assert drills == [(QUICK_DRILL, "staging", "passed", str(drill_run.id))]


def test_a_deploy_without_a_value_it_cannot_default_fails_and_registers_nothing(prefect_api, checkout):
    with get_client(sync_client=True) as client:
        before = {(d.id, d.updated) for d in client.read_deployments()}

    done = deploy(prefect_api, checkout, SLUICE_ENV="staging")

    assert done.returncode == 1
    said = done.stdout + done.stderr
    assert "error: SLUICE_HOME is not set" in said and "hint: export SLUICE_HOME=" in said, said[-3000:]
    assert "Traceback" not in said
    with get_client(sync_client=True) as client:
        assert {(d.id, d.updated) for d in client.read_deployments()} == before
