"""Many writers at once: failures of one cause and state changes, from threads and from spawned processes.

Every writer waits on one barrier before it writes, so they reach the store
together. A process builds its own engine on the store's URL, as a flow
worker or an ``ops`` command does.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from ops.incidents.db import open_engine, transaction
from ops.incidents.models import Status
from ops.incidents.service import ensure_incident, transition
from ops.respond.service import announce_opened, raise_incident
from tests.ops.incidents.factories import failure

BARRIER_SECONDS = 60


@dataclass(frozen=True)
class Outcome:
    """What one writer got: a result, or the error it raised (its type name and message)."""

    value: Any = None
    error: str | None = None
    message: str = ""


def run_together(calls: list[Callable[[], Any]], barrier: Any = None) -> list[Outcome]:
    """Run each call in a thread, all released by one barrier; the outcomes in call order."""
    gate = barrier or threading.Barrier(len(calls))
    outcomes: list[Outcome | None] = [None] * len(calls)

    def run(n: int) -> None:
        gate.wait(BARRIER_SECONDS)
        try:
            outcomes[n] = Outcome(value=calls[n]())
        except Exception as exc:  # noqa: BLE001 - the test looks at every error, expected or not
            outcomes[n] = Outcome(error=type(exc).__name__, message=str(exc))

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [o or Outcome(error="NoOutcome") for o in outcomes]


def fail_once(engine: Engine, n: int) -> bool:
    """One failure of the storm's cause, raised and announced as the flow hook does; True if it opened."""
    with transaction(engine) as session:
        opened = raise_incident(session, failure(n), books=[])
        announce_opened(session, opened)
        return opened.created


def move(engine: Engine, ref: str, target: Status, who: str) -> str:
    """Move ``ref`` to ``target`` as ``ops incident ack|mitigate|resolve`` does; the status it moved to."""
    with transaction(engine) as session:
        incident = ensure_incident(session, ref)
        transition(session, incident, target, who=who)
        return incident.status.value


def _storm_process(url: str, first: int, count: int, barrier: Any, results: Any, env: dict[str, str]) -> None:
    os.environ.clear()
    os.environ.update(env)  # the forkserver keeps the environment it started with; the test's is wanted
    engine = open_engine(url)
    outcomes = run_together([lambda n=n: fail_once(engine, n) for n in range(first, first + count)], barrier)
    results.put([(o.value, o.error, o.message) for o in outcomes])
    engine.dispose()


def storm_from_processes(url: str, processes: int, threads: int) -> list[Outcome]:
    """``processes`` spawned processes of ``threads`` threads each fail at once on the store at ``url``."""
    context = mp.get_context("forkserver")  # fresh processes, forked from one that imported this module once
    context.set_forkserver_preload([__name__])
    barrier = context.Barrier(processes * threads)
    results = context.Queue()
    env = dict(os.environ)
    workers = [
        context.Process(target=_storm_process, args=(url, p * threads, threads, barrier, results, env))
        for p in range(processes)
    ]
    for worker in workers:
        worker.start()
    collected = [results.get(timeout=240) for _ in workers]
    for worker in workers:
        worker.join(30)
    return [Outcome(value, error, message) for batch in collected for value, error, message in batch]
