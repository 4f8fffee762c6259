"""A small flow that runs tasks on a Dask cluster, then a real fault inside a worker, and fails.

``fault="memory"`` grows a balloon of real, touched memory in the worker;
``fault="cpu"`` spins the worker's CPU. Either way the fault task then raises,
so the run fails and the incident hooks open an incident. ``fault="warm-up"``
runs every task briefly and completes, so that the workers' first imports
are not part of the drill.
"""

from __future__ import annotations

import time

from prefect import flow, task
from prefect_dask import DaskTaskRunner

from flows.hooks import INCIDENT_HOOKS
from flows.observe import observed


class DrillFault(RuntimeError):
    """The failure the drill ends with."""


@task(name="idle")
def idle(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@task(name="balloon")
def balloon(megabytes: int, seconds: float) -> None:
    """Allocate and touch ``megabytes`` in 20 MB blocks over ``seconds``, hold them, then fail."""
    blocks = []
    steps = max(1, megabytes // 20)
    for _ in range(steps):
        blocks.append(bytearray(b"\x01") * (20 << 20))  # filled, so every page is resident
        time.sleep(seconds / steps)
    time.sleep(0.5)
    raise DrillFault(f"worker out of memory after {sum(len(b) for b in blocks) >> 20} MB")


@task(name="hog")
def hog(seconds: float) -> None:
    """Spin one core for ``seconds``, then fail as a timed-out step would."""
    end = time.monotonic() + seconds
    spins = 0
    while time.monotonic() < end:
        spins += 1
    raise DrillFault(f"step too slow: {spins} spins in {seconds} s")


@flow(name="fault-drill", **INCIDENT_HOOKS)
@observed("fault-drill", "dataset")
def fault_drill(dataset: str, fault: str, baseline_seconds: float = 5.0, fault_seconds: float = 3.0) -> None:
    """Two idle tasks (one a worker) for ``baseline_seconds``; then the fault for about ``fault_seconds``, and fail."""
    for future in [idle.submit(baseline_seconds), idle.submit(baseline_seconds)]:
        future.result()
    if fault == "warm-up":
        hog.submit(0.05).wait()
        balloon.submit(20, 0.05).wait()
    elif fault == "memory":
        balloon.submit(400, fault_seconds).result()
    elif fault == "cpu":
        hog.submit(fault_seconds).result()


def run_drill(address: str, fault: str, **kwargs: float):
    """Run the drill on the Dask scheduler at ``address``; returns its final state."""
    return fault_drill.with_options(task_runner=DaskTaskRunner(address=address))(
        "drill", fault, return_state=True, **kwargs
    )
