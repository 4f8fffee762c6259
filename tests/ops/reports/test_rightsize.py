"""Right-sizing hints from run history: plain rules on peak memory, CPU seconds, duration and tasks."""

from __future__ import annotations

from ops.reports.rightsize import MIN_RUNS, hint_for, hints, memory_step, p95
from tests.ops.reports.cost_factories import GIB, measured_run


def _history(n: int = MIN_RUNS, **kwargs: object) -> list:
    return [measured_run(f"r{i}", **kwargs) for i in range(n)]  # type: ignore[arg-type]


def test_a_short_history_suggests_nothing_and_says_why():
    hint = hint_for("orders", _history(MIN_RUNS - 1))

    assert hint.workers is None and hint.worker_memory_bytes is None
    assert hint.reasons == (f"history too short: {MIN_RUNS - 1} measured completed run(s), {MIN_RUNS} needed",)


def test_failed_and_unmeasured_runs_do_not_count_towards_the_history():
    runs = [*_history(MIN_RUNS - 1), measured_run("f", status="failed"), measured_run("u", workers=0)]

    assert hint_for("orders", runs).runs == MIN_RUNS - 1


def test_a_peak_well_under_the_limit_suggests_smaller_workers():
    peak = int(1.2 * GIB)
    runs = _history(workers=4, worker_memory_bytes=4 * GIB, peak_memory_bytes=peak, cpu_seconds=3600, tasks=8)

    hint = hint_for("orders", runs)

    assert hint.worker_memory_bytes == 2 * GIB  # 1.2 GiB and half again: 1.8, rounded up to a step
    assert hint.reasons[0] == "p95 peak memory 1.2 GiB on 4 worker(s) of 4.0 GiB: 2.0 GiB workers suffice"


def test_a_peak_near_the_limit_asks_for_more_memory():
    runs = _history(worker_memory_bytes=4 * GIB, peak_memory_bytes=int(3.5 * GIB))

    hint = hint_for("orders", runs)

    assert hint.worker_memory_bytes == 8 * GIB
    assert "near the limit, give workers 8.0 GiB" in hint.reasons[0]


def test_idle_workers_are_cut_to_what_the_cpu_time_keeps_busy():
    # 4 workers for 1800 s offer 7200 CPU seconds; the tasks used 720 (10 %).
    runs = _history(workers=4, cpu_seconds=720, wall_seconds=1800, tasks=16)

    hint = hint_for("orders", runs)

    assert hint.busy_share is not None and abs(hint.busy_share - 0.1) < 1e-9
    assert hint.workers == 2
    assert hint.reasons[1] == "CPU busy 10% of 4 workers' time: 2 worker(s) suffice"


def test_busy_workers_are_doubled_up_to_the_tasks_a_run_has():
    runs = _history(workers=2, cpu_seconds=3400, wall_seconds=1800, tasks=3)

    assert hint_for("orders", runs).workers == 3


def test_more_workers_than_tasks_suggests_as_many_workers_as_tasks():
    runs = _history(workers=4, cpu_seconds=5000, wall_seconds=1800, tasks=2)

    hint = hint_for("orders", runs)

    assert hint.workers == 2
    assert hint.reasons[1] == "runs stage 2 task(s) at most: 2 worker(s) suffice"


def test_p95_is_the_nearest_rank_and_memory_rounds_up_to_a_step():
    assert p95(list(range(1, 101))) == 95
    assert p95([3, 1, 2]) == 3
    assert memory_step(1.1 * GIB) == 2 * GIB
    assert memory_step(10_000 * GIB) == 128 * GIB


def test_hints_cover_each_dataset_by_name_or_just_the_one_asked_for():
    runs = _history(dataset="orders") + _history(2, dataset="customers")

    assert [h.dataset for h in hints(runs)] == ["customers", "orders"]
    assert [h.dataset for h in hints(runs, dataset="nothing")] == ["nothing"]
    assert hints(runs, dataset="nothing")[0].runs == 0
