"""Killing a Dask worker process in the middle of a run.

:func:`kill_worker_when_busy` watches the scheduler until a task whose key
contains ``task`` is being processed, then kills the worker process that runs
it with SIGKILL: directly when the worker runs on this host, from inside the
worker process otherwise. The nanny starts a fresh worker; the scheduler
reschedules the lost task.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from dataclasses import dataclass

from ops.errors import ChaosError

POLL = 0.01


@dataclass(frozen=True)
class Kill:
    """Which worker died, while running which task, how long after the watch began."""

    worker: str
    task: str
    after_seconds: float

    def to_output(self) -> dict[str, object]:
        return {
            "detail": f"killed {self.worker} while it ran {self.task}",
            "worker": self.worker,
            "task": self.task,
            "after_seconds": round(self.after_seconds, 2),
        }


def _die() -> None:  # runs inside the worker process
    os.kill(os.getpid(), signal.SIGKILL)


def _kill(client: object, worker: str) -> None:
    """SIGKILL ``worker``'s process: from here when it is local, else from inside it."""
    host = worker.split("://", 1)[-1].rsplit(":", 1)[0]
    if host in ("127.0.0.1", "localhost", socket.gethostname(), socket.gethostbyname(socket.gethostname())):
        pid = client.run(os.getpid, workers=[worker])[worker]  # type: ignore[attr-defined]
        os.kill(pid, signal.SIGKILL)
        return
    with contextlib.suppress(Exception):  # the worker dies before it can answer
        client.run(_die, workers=[worker])  # type: ignore[attr-defined]


def _busy(processing: dict[str, list[str]], task: str) -> tuple[str, str] | None:
    for worker, keys in processing.items():
        for key in keys:
            if task in str(key):
                return worker, str(key)
    return None


def kill_worker_when_busy(address: str, *, task: str, timeout: float) -> Kill:
    """SIGKILL the worker processing a task whose key contains ``task``; raise if none shows up in time."""
    from distributed import Client

    started = time.monotonic()
    with Client(address, timeout=30) as client:
        while time.monotonic() - started < timeout:
            found = _busy(client.processing(), task)
            if found:
                worker, key = found
                _kill(client, worker)
                _wait_gone(client, worker)
                return Kill(worker, key, time.monotonic() - started)
            time.sleep(POLL)
    raise ChaosError(
        f"no task matching {task!r} ran on the cluster at {address} within {timeout:.0f} s",
        hint="start the run right after this action (it runs in the background)",
    )


def _wait_gone(client: object, worker: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker not in client.scheduler_info()["workers"]:  # type: ignore[attr-defined]
            return
        time.sleep(0.05)
