"""2M orders ingested on two worker hosts, staging and lake on S3, one worker host killed mid-run.

Hosts are network namespaces on a bridge (:mod:`tests.hosts`): a storage
host runs moto's S3 server, a scheduler host ``dask scheduler``, two worker
hosts a ``dask worker`` and a ``prefect worker`` (process pool) each, with a
private scratch folder; the Prefect server runs on a fresh PostgreSQL
database (:mod:`tests.multihost`). The ``ingest-files`` flow is deployed,
started with ``prefect deployment run`` and picked up by one worker host's
Prefect worker; its tasks run on both hosts' Dask workers
(``SLUICE_DASK_ADDRESS``). While the other worker host stages its share,
every process on it is killed; Dask runs its task again on the survivor,
the run ends Completed, and the lake holds exactly the source's valid rows,
each key once, with run record counts that add up in the run records the
flow wrote to a PostgreSQL database every host shares (``SLUICE_METADATA_URL``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest
from deltalake import DeltaTable

from demo.samples import SampleManifest, generate_orders
from sluice.runs.metastore import engine_for, list_runs
from sluice.sources.s3 import delta_options
from tests.hosts import Host, host_network, netns_permitted
from tests.multihost import (
    CREDS,
    Stack,
    deploy_ingest,
    make_bucket,
    postgres_database,
    postgres_reachable_at,
    prefect_server,
    start_deployment_run,
    start_prefect_worker,
    start_s3,
    start_scheduler,
    start_worker,
    upload,
    wait_workers,
)

# Hosts, the Prefect server and 2M generated rows take minutes to set up; the run takes minutes on a loaded machine.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(2400)]
ROWS = 2_000_000
FILES = 16
BUCKET = "sluice"
SOURCE = f"s3://{BUCKET}/landing/orders"
WORKERS = ("w1", "w2")
RUN_TIMEOUT_S = 900
# About two files' chunks (a file's rows fall in about 8 date buckets): the kill comes with work on both hosts done.
MIN_STAGED = 16


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    reason = netns_permitted()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("hosts")
    names = ["storage", "scheduler", *WORKERS]
    with (
        host_network(names, root) as net,
        postgres_database() as database,
        postgres_database("psycopg", "sluice_mh") as metadata,
        postgres_reachable_at(net.gateway) as pg_port,
        prefect_server(net.gateway, database, root / "prefect-server") as api,
    ):
        stack = Stack(net, start_s3(net["storage"]), start_scheduler(net["scheduler"]), api, metadata)
        shared = metadata.replace("127.0.0.1:5432", f"{net.gateway}:{pg_port}")  # run records and leases
        env = {**stack.prefect_env(), **stack.sluice_env(BUCKET), "SLUICE_DASK_WORKERS": str(len(WORKERS))}
        env["SLUICE_METADATA_URL"] = shared
        for name in WORKERS:
            start_worker(net[name], stack.scheduler, stack.prefect_env())
            start_prefect_worker(net[name], env)
        wait_workers(stack.scheduler, [net[name].name for name in WORKERS])
        yield stack


@pytest.fixture(scope="module")
def orders(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> SampleManifest:
    folder = tmp_path_factory.mktemp("orders")
    manifest = generate_orders(folder, rows=ROWS, files=FILES, seed=19)
    make_bucket(stack.s3_endpoint, BUCKET)
    upload(stack.s3_endpoint, manifest.files, SOURCE)
    return manifest


def _processing_on(scheduler: str, worker_name: str) -> list[str]:
    from distributed import Client

    with Client(scheduler, timeout=30) as client:
        names = {addr: w["name"] for addr, w in client.scheduler_info()["workers"].items()}
        return [str(k) for addr, keys in client.processing().items() if names.get(addr) == worker_name for k in keys]


def _staged_objects(stack: Stack) -> int:
    """Staged chunk files on S3 so far: the stage tasks are well under way once there are some."""
    import s3fs

    fs = s3fs.S3FileSystem(**CREDS, endpoint_url=stack.s3_endpoint, skip_instance_cache=True)
    return sum(1 for path in fs.find(f"{BUCKET}/staging") if path.endswith(".arrow"))


def _runs_flow(host: Host) -> bool:
    """Whether a flow run's process (the process worker's ``prefect.engine``) runs on ``host``."""
    for pid in host.pids():
        try:
            if "prefect.engine" in " ".join(psutil.Process(pid).cmdline()):
                return True
        except psutil.Error:
            continue
    return False


def _kill_while_staging(stack: Stack, run: object, timeout: float = 600.0) -> tuple[str, str, list[str]]:
    """Once the flow runs on one worker host and the other runs a stage task, kill the other.

    Returns the flow's host, the killed host and the tasks the killed host was running.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert run.poll() is None, "the run ended before a worker host was killed"  # type: ignore[attr-defined]
        flow_hosts = [name for name in WORKERS if _runs_flow(stack.net[name])]
        if flow_hosts:
            victim = next(name for name in WORKERS if name != flow_hosts[0])
            running = _processing_on(stack.scheduler, stack.net[victim].name)
            if any("stage" in key for key in running) and _staged_objects(stack) >= MIN_STAGED:
                assert stack.net[victim].kill(), "no process to kill on the worker host"
                return flow_hosts[0], victim, running
        time.sleep(0.5)
    raise AssertionError("no worker host ran a stage task while the other ran the flow")


def _source_ids(files: list[str]) -> pa.Array:
    ids = []
    for path in files:
        opts = pacsv.ConvertOptions(include_columns=["order_id"], column_types={"order_id": pa.string()})
        parse = pacsv.ParseOptions(invalid_row_handler=lambda _: "skip")
        ids.append(pacsv.read_csv(path, parse_options=parse, convert_options=opts).column("order_id"))
    return pa.chunked_array(ids).combine_chunks()


def test_a_deployed_ingest_survives_a_worker_host_killed_mid_run_with_exact_counts(
    stack: Stack, orders: SampleManifest, tmp_path: Path
) -> None:
    deployment = deploy_ingest(stack, "orders-multihost", {"dataset": "orders", "source": SOURCE})
    log = tmp_path / "deployment-run.log"
    run = start_deployment_run(stack, deployment, RUN_TIMEOUT_S, log)

    flow_host, victim, killed_tasks = _kill_while_staging(stack, run)
    run.wait(timeout=RUN_TIMEOUT_S + 60)

    said = log.read_text(errors="replace")
    assert run.returncode == 0 and "Completed" in said, (
        said[-3000:] + stack.net[flow_host].log("prefect-worker")[-3000:]
    )
    assert killed_tasks and not stack.net[victim].pids()
    assert "Remove worker" in stack.net["scheduler"].log("scheduler")
    assert not (stack.net[flow_host].scratch / "sluice" / "sluice.db").exists()  # on the shared PostgreSQL instead
    with engine_for(stack.metadata_url).connect() as conn:
        [report] = list_runs(conn)
    assert report.status == "completed"
    assert report.rows_read == orders.rows_total == ROWS
    assert report.rows_written == orders.rows_unique_valid
    assert report.rows_quarantined == orders.rows_bad
    assert report.rows_duplicate == orders.rows_duplicate
    assert len(report.files_committed) == FILES

    opts = delta_options(stack.fs_options())
    lake = DeltaTable(f"s3://{BUCKET}/tables/orders", storage_options=opts).to_pyarrow_table(columns=["order_id"])
    keys = lake.column("order_id").cast(pa.string())
    assert lake.num_rows == orders.rows_unique_valid
    assert pc.count_distinct(keys).as_py() == lake.num_rows
    assert pc.all(pc.is_in(keys, value_set=_source_ids(orders.files))).as_py()
    quarantine = DeltaTable(f"s3://{BUCKET}/quarantine", storage_options=opts).to_pyarrow_table(columns=["dataset"])
    assert quarantine.num_rows == orders.rows_bad
    assert not (stack.net[flow_host].scratch / "sluice" / "staging").exists()
