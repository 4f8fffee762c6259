"""2M orders ingested on two worker hosts, staging and lake on S3, one worker host killed mid-run.

Hosts are network namespaces on a bridge (:mod:`tests.hosts`): a storage
host runs moto's S3 server, a scheduler host ``dask scheduler``, two worker
hosts ``dask worker`` each with a private scratch folder, a flow host the
``ingest-files`` flow (``SLUICE_DASK_ADDRESS``); the Prefect server runs on
a fresh PostgreSQL database (:mod:`tests.multihost`). While the second
worker host stages its share, every process on it is killed; Dask runs its
task again on the first, and the lake must hold exactly the source's valid
rows, each key once, with run counts that add up.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest
from deltalake import DeltaTable

from demo.samples import SampleManifest, generate_orders
from sluice.sources.s3 import delta_options
from tests.hosts import host_network, netns_permitted
from tests.multihost import (
    Stack,
    code_env,
    make_bucket,
    postgres_database,
    prefect_server,
    start_s3,
    start_scheduler,
    start_worker,
    upload,
    wait_workers,
)

pytestmark = [pytest.mark.integration, pytest.mark.serial]
ROWS = 2_000_000
FILES = 16
BUCKET = "sluice"
SOURCE = f"s3://{BUCKET}/landing/orders"
FLOW = (
    "import json, sys; from flows.ingest_files import ingest_files; "
    "r = ingest_files(sys.argv[1], sys.argv[2]); print('REPORT ' + json.dumps(r.to_dict(), default=str))"
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    reason = netns_permitted()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("hosts")
    names = ["storage", "scheduler", "flow", "w1", "w2"]
    with (
        host_network(names, root) as net,
        postgres_database() as database,
        prefect_server(net.gateway, database, root / "prefect-server") as api,
    ):
        stack = Stack(net, start_s3(net["storage"]), start_scheduler(net["scheduler"]), api)
        for name in ("w1", "w2"):
            start_worker(net[name], stack.scheduler, stack.prefect_env())
        wait_workers(stack.scheduler, [net["w1"].name, net["w2"].name])
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


def _kill_while_staging(stack: Stack, victim: str, flow: object, timeout: float = 600.0) -> list[str]:
    """Wait until ``victim`` runs a stage task, then kill its host; the tasks it was running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert getattr(flow, "poll")() is None, "the flow ended before the worker host was killed"
        running = _processing_on(stack.scheduler, stack.net[victim].name)
        if any("stage" in key for key in running):
            time.sleep(2.0)  # well into the task: chunks of its files are staged on S3
            assert stack.net[victim].kill(), "no process to kill on the worker host"
            return running
        time.sleep(0.5)
    raise AssertionError(f"{victim} never ran a stage task")


def _source_ids(files: list[str]) -> pa.Array:
    ids = []
    for path in files:
        opts = pacsv.ConvertOptions(include_columns=["order_id"], column_types={"order_id": pa.string()})
        parse = pacsv.ParseOptions(invalid_row_handler=lambda _: "skip")
        ids.append(pacsv.read_csv(path, parse_options=parse, convert_options=opts).column("order_id"))
    return pa.chunked_array(ids).combine_chunks()


def test_an_ingest_survives_a_worker_host_killed_mid_run_with_exact_counts(
    stack: Stack, orders: SampleManifest, tmp_path: Path
) -> None:
    env = {**code_env(), **stack.prefect_env(), **stack.sluice_env(BUCKET), "SLUICE_DASK_WORKERS": "2"}
    flow_host = stack.net["flow"]
    flow = flow_host.start([sys.executable, "-c", FLOW, "orders", SOURCE], "flow", env)

    killed_tasks = _kill_while_staging(stack, "w2", flow)
    flow.wait(timeout=900)

    log = flow_host.log("flow")
    assert flow.returncode == 0, log[-4000:]
    assert killed_tasks
    report = json.loads(next(line for line in log.splitlines() if line.startswith("REPORT "))[7:])
    assert report["status"] == "completed"
    assert report["rows_read"] == orders.rows_total == ROWS
    assert report["rows_written"] == orders.rows_unique_valid
    assert report["rows_quarantined"] == orders.rows_bad
    assert report["rows_duplicate"] == orders.rows_duplicate
    assert report["files_committed"] == FILES

    opts = delta_options(stack.fs_options())
    lake = DeltaTable(f"s3://{BUCKET}/tables/orders", storage_options=opts).to_pyarrow_table(columns=["order_id"])
    keys = lake.column("order_id").cast(pa.string())
    assert lake.num_rows == orders.rows_unique_valid
    assert pc.count_distinct(keys).as_py() == lake.num_rows
    assert pc.all(pc.is_in(keys, value_set=_source_ids(orders.files))).as_py()
    quarantine = DeltaTable(f"s3://{BUCKET}/quarantine", storage_options=opts).to_pyarrow_table(columns=["dataset"])
    assert quarantine.num_rows == orders.rows_bad
    assert not (flow_host.scratch / "sluice" / "staging").exists()
    assert not any((stack.net[w].scratch / "sluice").exists() for w in ("w1", "w2"))
