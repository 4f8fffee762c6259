"""Right-sizing hints: workers and memory per dataset, from its recorded runs, by plain rules.

* memory: the 95th percentile of the runs' peak memory with half again as
  headroom, rounded up to a step of :data:`MEMORY_STEPS`, against the memory
  limit the workers had. The peak is that of the process a task ran in: with
  thread workers all of them share one, so the hint errs on the large side.
* workers: how busy the workers were (tasks' CPU seconds over wall seconds
  times workers) and how many tasks a run staged at most: a worker beyond
  the tasks a run has, or beyond what the CPU time keeps busy, waits idle.

Fewer than :data:`MIN_RUNS` measured runs give no hint, only that reason.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sluice.runs.records import FileStatus, RunReport

MIN_RUNS = 5
HEADROOM = 1.5
NEAR_LIMIT = 0.8  # a p95 peak above this share of the limit asks for more memory
BUSY, IDLE = 0.8, 0.25  # CPU busy share of the workers' time above which to add, below which to remove workers
GIB = 1024**3
MEMORY_STEPS = tuple(int(GIB * s) for s in (0.5, 1, 2, 4, 8, 16, 32, 64, 128))


@dataclass(frozen=True)
class Hint:
    """What a dataset's runs suggest; ``workers``/``worker_memory_bytes`` are None when there is no suggestion."""

    dataset: str
    runs: int
    current_workers: int | None
    current_worker_memory_bytes: int | None
    p95_peak_memory_bytes: int | None
    busy_share: float | None
    max_tasks: int | None
    workers: int | None
    worker_memory_bytes: int | None
    reasons: tuple[str, ...]


def p95(values: Sequence[float]) -> float:
    """The 95th percentile by nearest rank (the largest of fewer than 20 values)."""
    ordered = sorted(values)
    return ordered[max(math.ceil(0.95 * len(ordered)) - 1, 0)]


def memory_step(needed: float) -> int:
    """The smallest step of :data:`MEMORY_STEPS` holding ``needed`` bytes (the largest if none does)."""
    return next((s for s in MEMORY_STEPS if s >= needed), MEMORY_STEPS[-1])


def size_text(n: float) -> str:
    """Bytes in binary units, one decimal: ``1.2 GiB``, ``512.0 MiB``."""
    for unit, size in (("GiB", GIB), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{int(n)} B"


def memory_hint(peak: float, workers: int, limit: int) -> tuple[int, str]:
    """The memory each worker needs for a p95 ``peak`` and why, given ``workers`` of ``limit`` bytes each."""
    suggested = memory_step(peak * HEADROOM)
    where = f"p95 peak memory {size_text(peak)} on {workers} worker(s) of {size_text(limit)}"
    if peak > NEAR_LIMIT * limit:
        return max(suggested, limit), f"{where}: near the limit, give workers {size_text(max(suggested, limit))}"
    if suggested < limit:
        return suggested, f"{where}: {size_text(suggested)} workers suffice"
    return limit, f"{where}: keep {size_text(limit)}"


def workers_hint(busy: float, workers: int, max_tasks: int) -> tuple[int, str]:
    """The workers a dataset's runs keep busy, and why."""
    if max_tasks < workers:
        return max(max_tasks, 1), f"runs stage {max_tasks} task(s) at most: {max(max_tasks, 1)} worker(s) suffice"
    if busy < IDLE and workers > 1:
        fewer = max(math.ceil(workers * busy / IDLE), 1)
        return fewer, f"CPU busy {busy:.0%} of {workers} workers' time: {fewer} worker(s) suffice"
    if busy > BUSY:
        more = min(workers * 2, max_tasks)
        return more, f"CPU busy {busy:.0%} of {workers} workers' time: try {more} workers"
    return workers, f"CPU busy {busy:.0%} of {workers} workers' time: keep {workers}"


def _measured(run: RunReport) -> bool:
    return run.status == "completed" and run.workers > 0 and run.peak_memory_bytes > 0 and run.wall_seconds > 0


def _tasks(run: RunReport) -> int:
    return sum(f.status is not FileStatus.SKIPPED for f in run.files)


def hint_for(dataset: str, runs: Sequence[RunReport]) -> Hint:
    """The hint for ``dataset`` from its runs (only completed runs that measured their use count)."""
    done = [r for r in runs if r.dataset == dataset and _measured(r)]
    if len(done) < MIN_RUNS:
        reason = f"history too short: {len(done)} measured completed run(s), {MIN_RUNS} needed"
        return Hint(dataset, len(done), None, None, None, None, None, None, None, (reason,))
    workers = max(r.workers for r in done)
    limit = max(r.worker_memory_bytes for r in done)
    peak = p95([r.peak_memory_bytes for r in done])
    busy = sum(r.cpu_seconds for r in done) / sum(r.wall_seconds * r.workers for r in done)
    max_tasks = max(_tasks(r) for r in done)
    suggested_workers, why_workers = workers_hint(busy, workers, max_tasks)
    reasons = [why_workers]
    memory = None
    if limit:
        memory, why_memory = memory_hint(peak, workers, limit)
        reasons.insert(0, why_memory)
    else:
        reasons.insert(0, f"p95 peak memory {size_text(peak)}; the workers' memory limit is not recorded")
    return Hint(
        dataset,
        len(done),
        workers,
        limit or None,
        int(peak),
        busy,
        max_tasks,
        suggested_workers,
        memory,
        tuple(reasons),
    )


def hints(runs: Iterable[RunReport], *, dataset: str | None = None) -> list[Hint]:
    """A hint per dataset of ``runs`` (or for ``dataset`` alone), by name."""
    history = list(runs)
    names = sorted({r.dataset for r in history}) if dataset is None else [dataset]
    return [hint_for(name, history) for name in names]
