"""Flow runs in the Prefect API for crash detection tests: started in subprocesses, or made up."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from prefect import flow, get_client
from prefect.client.schemas.sorting import FlowRunSort
from prefect.states import Running

from ops.crashes.models import ProcessMark

ROOT = Path(__file__).resolve().parents[2]


@flow(name="ingest-files")
def ingest_placeholder(dataset: str = "orders") -> None:
    """Stands for the real flow when a run is made up in the API."""


def start(module: str, *args: str, prefect_api: str, home: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "SLUICE_HOME": str(home), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", module, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def run_of(pid: int, timeout: float = 120.0, running: bool = True) -> Any:
    """The (Running) flow run labelled with process ``pid``, once it is (None after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with get_client(sync_client=True) as client:
            for run in client.read_flow_runs(limit=200, sort=FlowRunSort.START_TIME_DESC):
                mark = ProcessMark.from_labels(run.labels)
                if mark and mark.pid == pid and (not running or (run.state and run.state.is_running())):
                    return run
        time.sleep(0.05)
    return None


def dead_mark() -> ProcessMark:
    """The mark of a process of this host that has exited."""
    import psutil

    from ops.crashes.liveness import this_process

    here = this_process(30)
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    started = psutil.Process(proc.pid).create_time()  # readable until it is reaped
    proc.wait()
    return ProcessMark(here.host, here.boot_id, proc.pid, started, 30)


def made_up_run(labels: dict[str, Any] | None, tags: list[str] | None = None) -> Any:
    """A flow run of ``ingest-files`` in the API, set Running, with ``labels``, and no process behind it."""
    with get_client(sync_client=True) as client:
        run = client.create_flow_run(ingest_placeholder, parameters={"dataset": "orders"}, tags=tags or [])
        client.set_flow_run_state(run.id, Running())
        if labels:
            client.update_flow_run_labels(run.id, labels)
        return client.read_flow_run(run.id)


def state_of(run_id: Any) -> Any:
    with get_client(sync_client=True) as client:
        return client.read_flow_run(run_id).state
