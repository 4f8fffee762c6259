"""Hard root-cause cases, generated: a small microservice system sampled once a minute, with one fault.

Each case is a call graph of six services, each with five per-pod metrics
(``<svc>_cpu`` in % of its limit, ``<svc>_mem`` in bytes, ``<svc>_net`` in
bytes/s, ``<svc>_syscall`` per second and ``<svc>_lat`` in ms, a caller's
latency including its callees'), sampled at one row a minute, and one
injected fault at the failure row:

* ``cpu``: the service's CPU saturates at its limit; its latency and its
  callers' rise;
* ``mem``: the service's memory grows without returning (a leak), its CPU
  rises a little (garbage collection); latencies rise a little;
* ``delay``: network delay on the service: its latency and its callers' rise
  by the delay, throughput (net, syscalls) falls.

What makes them hard, each drawn per case: a short history (3 to 39 rows
before the failure); in most cases an earlier incident in another service
8 to 17 minutes before the failure, still inside the window and larger than
the fault; sparse latency series (no requests in most minutes, so a zero
baseline) that come alive after the failure; in about half the cases a
reaction to the alert, 3 to 5 minutes after the failure (a job it started, a
restart), that takes another service's memory or CPU far beyond the fault's
own move.

The true cause is a service; for ``cpu`` and ``mem`` it is also the metric
``<svc>_<cpu|mem>``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ops.correlate.models import WideFrame

SERVICES = ("front", "orders", "carts", "payment", "user", "catalogue")
CALLS: dict[str, tuple[str, ...]] = {
    "front": ("orders", "carts", "catalogue"),
    "orders": ("payment", "user", "carts"),
    "carts": (),
    "payment": (),
    "user": (),
    "catalogue": (),
}
KINDS = ("cpu", "mem", "delay")
METRICS = ("cpu", "mem", "net", "syscall", "lat")
STEP_SECONDS = 60
EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z


@dataclass(frozen=True)
class SyntheticCase:
    """One generated fault: the frame, the failure row, and the true cause (service, and metric if any)."""

    name: str
    kind: str
    service: str
    truth: str
    frame: WideFrame
    failure_row: int


def callers_of(service: str) -> list[str]:
    """Every service whose requests reach ``service``, nearest first."""
    found: list[str] = []
    frontier = [service]
    while frontier:
        nxt = [caller for caller, callees in CALLS.items() for s in frontier if s in callees and caller not in found]
        found.extend(dict.fromkeys(nxt))
        frontier = nxt
    return found


def _latency(own: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each service's latency: its own time plus its callees' latencies."""
    total: dict[str, np.ndarray] = {}

    def of(s: str) -> np.ndarray:
        if s not in total:
            total[s] = own[s] + sum((of(c) for c in CALLS[s]), np.zeros_like(own[s]))
        return total[s]

    for s in SERVICES:
        of(s)
    return total


def _healthy(rng: np.random.Generator, rows: int) -> dict[str, np.ndarray]:
    columns: dict[str, np.ndarray] = {}
    for s in SERVICES:
        columns[f"{s}_cpu"] = rng.uniform(5, 30) * (1 + rng.normal(0, 0.08, rows))
        columns[f"{s}_mem"] = np.round(rng.uniform(1e8, 5e8) / 4096 + np.cumsum(rng.normal(0, 30, rows))) * 4096
        columns[f"{s}_net"] = rng.uniform(1e5, 1e6) * (1 + rng.normal(0, 0.1, rows))
        columns[f"{s}_syscall"] = rng.uniform(200, 2000) * (1 + rng.normal(0, 0.1, rows))
    return columns


def _inject(
    columns: dict[str, np.ndarray], own: dict[str, np.ndarray], kind: str, s: str, at: int, size: float
) -> None:
    """A fault of ``kind`` in service ``s`` from row ``at`` on; ``size`` in [1, 3] scales it."""
    rows = len(own[s])
    after = np.arange(rows - at)
    if kind == "cpu":
        columns[f"{s}_cpu"][at:] = np.minimum(100.0, columns[f"{s}_cpu"][at:] + 60 * size) - np.abs(
            np.random.default_rng(at).normal(0, 0.5, rows - at)
        )
        own[s][at:] *= 1 + 0.5 * size
    elif kind == "mem":
        base = columns[f"{s}_mem"][at - 1]
        columns[f"{s}_mem"][at:] += np.round(base * 0.15 * size * (after + 1) / 4096) * 4096
        columns[f"{s}_cpu"][at:] += 4 * size
        own[s][at:] *= 1 + 0.2 * size
    else:
        own[s][at:] += 40 * size
        for hit in [s, *callers_of(s)]:
            columns[f"{hit}_net"][at:] *= 1 - 0.1 * size
            columns[f"{hit}_syscall"][at:] *= 1 - 0.08 * size


def _react(columns: dict[str, np.ndarray], rng: np.random.Generator, s: str, at: int) -> None:
    """What the alert set off in service ``s`` from row ``at`` on: its memory doubles, or its CPU triples."""
    if at >= len(columns[f"{s}_mem"]):
        return
    if rng.random() < 0.5:
        columns[f"{s}_mem"][at:] += np.round(columns[f"{s}_mem"][at - 1] / 4096) * 4096
    else:
        columns[f"{s}_cpu"][at:] = np.minimum(100.0, columns[f"{s}_cpu"][at:] * 3.0)


def synthetic_case(kind: str, seed: int) -> SyntheticCase:
    """One hard case of fault ``kind`` (``cpu``, ``mem`` or ``delay``), all its randomness from ``seed``."""
    rng = np.random.default_rng(seed)
    before, after = int(rng.integers(3, 40)), int(rng.integers(6, 16))
    rows = before + after
    culprit = str(rng.choice(SERVICES))
    columns = _healthy(rng, rows)
    own = {s: rng.uniform(2, 20) * (1 + np.abs(rng.normal(0, 0.1, rows))) for s in SERVICES}
    incident_rows = int(rng.integers(8, 18))
    if rng.random() < 0.7:
        other = str(rng.choice([s for s in SERVICES if s != culprit]))
        start = max(1, before - incident_rows)
        _inject(columns, own, str(rng.choice(KINDS)), other, start, 2.0 * float(rng.uniform(1.5, 3.0)))
    _inject(columns, own, kind, culprit, before, float(rng.uniform(1.0, 3.0)))
    latency = _latency(own)
    for s in SERVICES:
        columns[f"{s}_lat"] = latency[s]
    for s in rng.choice([s for s in SERVICES if s != culprit], size=2, replace=False):
        quiet = rng.random(rows) < 0.85  # no requests in most minutes: zero latency recorded
        quiet[before:] = rng.random(after) < 0.2
        columns[f"{s}_lat"] = np.where(quiet, 0.0, columns[f"{s}_lat"])
    if rng.random() < 0.5:
        _react(columns, rng, str(rng.choice([s for s in SERVICES if s != culprit])), before + int(rng.integers(3, 6)))
    names = [f"{s}_{m}" for s in SERVICES for m in METRICS]
    times = (EPOCH + np.arange(rows, dtype="int64") * STEP_SECONDS) * 1_000_000_000
    truth = f"{culprit}_lat" if kind == "delay" else f"{culprit}_{kind}"
    frame = WideFrame(times, names, np.vstack([columns[n] for n in names]))
    return SyntheticCase(f"{kind}/{seed}", kind, culprit, truth, frame, before)


def synthetic_cases(per_kind: int, first_seed: int = 0) -> list[SyntheticCase]:
    """``per_kind`` cases of every fault kind, seeds ``first_seed`` onwards."""
    return [synthetic_case(kind, first_seed + i) for kind in KINDS for i in range(per_kind)]
