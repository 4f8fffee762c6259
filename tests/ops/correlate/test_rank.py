"""Ranking on synthetic frames with an injected fault: the right suspect first, timing, direction and Granger."""

from __future__ import annotations

import numpy as np
import pytest

from ops.correlate import CorrelateConfig, correlate_frame, correlate_prepared
from ops.correlate.factors import rival_at_failure
from ops.correlate.frame import prepare_frame
from ops.correlate.stats import robust_shifts
from ops.errors import CorrelateInputError
from tests.ops.correlate.factories import fault_frame


def names(result) -> list[str]:
    return [s.metric for s in result.suspects]


@pytest.mark.parametrize("culprit,size", [("db_cpu", 40.0), ("web_mem", 3e8), ("disk_io_percent", 60.0)])
def test_the_injected_fault_ranks_first(culprit, size):
    fault = fault_frame(culprit=culprit, size=size)

    result = correlate_frame(fault.frame, fault.failure_at)

    assert names(result)[0] == culprit
    top = result.suspects[0]
    assert top.evidence.direction == "up" and top.evidence.z > 10
    assert top.evidence.timing == "simultaneous"
    assert top.score == pytest.approx(np.prod(list(top.evidence.factors.values())), rel=1e-3)


def test_a_host_memory_that_moves_one_percent_off_a_flat_baseline_does_not_outrank_a_cpu_hog():
    host_mem = np.full(600, 2.879e9)
    host_mem[::9] += 4096  # still to the page between samples: MAD 0, quantum one page
    host_mem[396:] += 27e6  # 0.9 % of the host, a few rows before the failure
    fault = fault_frame(culprit="db_cpu", size=20.0, extra={"host_mem": host_mem})

    result = correlate_frame(fault.frame, fault.failure_at)

    assert names(result)[0] == "db_cpu"
    memory = next(s for s in result.suspects if s.metric == "host_mem")
    assert memory.evidence.factors["magnitude"] < 0.5


def test_a_change_well_before_the_failure_is_leading_and_one_after_it_lagging():
    leading = fault_frame(onset=300, failure=400)
    lagging = fault_frame(onset=500, failure=400, culprit="web_cpu")

    lead = correlate_frame(leading.frame, leading.failure_at).suspects[0]
    lag = next(s for s in correlate_frame(lagging.frame, lagging.failure_at).suspects if s.metric == "web_cpu")

    assert lead.metric == "db_cpu" and lead.evidence.timing == "leading"
    assert lead.evidence.change_offset_seconds == pytest.approx(-100, abs=3)
    assert lead.evidence.correlation.lag_seconds == pytest.approx(100, abs=3)  # the suspect moved first
    assert lag.evidence.timing == "lagging" and lag.evidence.factors["timing"] == CorrelateConfig().lagging_weight


def test_what_began_to_move_once_the_alert_fired_lags_the_trouble_the_alert_rang_for():
    busy = 30 + np.random.default_rng(5).normal(0, 3, 600)
    busy[406:] += 60.0  # a run the alert started, six rows after the trouble began (within the tolerance)
    fault = fault_frame(culprit="db_cpu", size=8.0, extra={"web_cpu": busy})
    alerted = fault.time_of(405)

    plain = correlate_prepared(prepare_frame(fault.frame, 8), fault.failure_at)
    told = correlate_prepared(prepare_frame(fault.frame, 8), fault.failure_at, alerted_at=alerted)

    assert names(plain)[0] == "web_cpu" and plain.suspects[0].evidence.timing == "simultaneous"
    assert names(told)[0] == "db_cpu"
    assert next(s for s in told.suspects if s.metric == "web_cpu").evidence.timing == "lagging"


def test_a_resource_that_frees_up_is_weighted_down():
    fault = fault_frame(culprit="web_cpu", size=-25.0)

    suspect = next(s for s in correlate_frame(fault.frame, fault.failure_at).suspects if s.metric == "web_cpu")

    assert suspect.evidence.direction == "down" and suspect.evidence.factors["direction"] == 0.1
    assert any("usage fell" in r for r in suspect.evidence.reasons)


def test_free_memory_that_falls_is_usage_that_rises():
    available = 8e8 + np.round(np.random.default_rng(5).normal(0, 2, 600)) * 4096
    fault = fault_frame(
        culprit="node_memory_MemAvailable_bytes", size=-3e8, extra={"node_memory_MemAvailable_bytes": available}
    )

    result = correlate_frame(fault.frame, fault.failure_at)

    top = result.suspects[0]
    assert top.metric == "node_memory_MemAvailable_bytes" and top.evidence.direction == "down"
    assert top.evidence.factors["direction"] == 1.0


def test_a_worker_that_returns_memory_does_not_outrank_a_cpu_hog():
    rss = np.full(600, 6.076e8)
    rss[::11] += 4096  # still to the page
    rss[395:] = 1.671e8  # a worker handed 440 MB back a few seconds before the failure
    fault = fault_frame(culprit="db_cpu", size=20.0, extra={"worker_rss_bytes": rss})

    result = correlate_frame(fault.frame, fault.failure_at)

    assert names(result)[0] == "db_cpu"
    freed = next(s for s in result.suspects if s.metric == "worker_rss_bytes")
    assert freed.evidence.z < -1e4 and freed.evidence.factors["direction"] == 0.1


def worker_series(rows: int, seed: int, stops_at: int | None) -> dict[str, np.ndarray]:
    """A worker process's RSS and CPU, reporting until ``stops_at`` (None: to the end)."""
    rng = np.random.default_rng(seed)
    rss = 3e8 + np.round(rng.normal(0, 3, rows)) * 4096
    cpu = 40 + rng.normal(0, 8, rows)
    if stops_at is not None:
        rss[stops_at:], cpu[stops_at:] = np.nan, np.nan
    return {"worker_rss_bytes": rss, "worker_cpu_percent": cpu}


def test_a_worker_whose_series_stop_at_the_failure_ranks_first():
    fault = fault_frame(culprit="web_cpu", size=0.0, extra=worker_series(600, 7, stops_at=400))

    result = correlate_frame(fault.frame, fault.failure_at)

    top = result.suspects[0]
    assert top.metric.startswith("worker_") and top.evidence.direction == "down" and top.evidence.level == 0
    assert top.evidence.factors["direction"] == 1.0 and top.evidence.timing == "simultaneous"
    assert any("stopped reporting at the failure" in r for r in top.evidence.reasons)


def test_a_worker_found_gone_a_few_readings_before_the_alert_still_stopped_at_the_failure():
    # 100 rows: the timing tolerance is 2 rows; the worker's last reading is 4 rows before the failure
    fault = fault_frame(culprit="web_cpu", size=0.0, rows=100, failure=70, extra=worker_series(100, 7, stops_at=66))

    result = correlate_frame(fault.frame, fault.failure_at)

    top = result.suspects[0]
    assert top.metric.startswith("worker_") and top.evidence.level == 0
    assert any("stopped reporting at the failure" in r for r in top.evidence.reasons)


def test_a_worker_found_gone_before_the_alert_outranks_the_survivor_that_took_its_work():
    survivor = 2e8 + np.round(np.random.default_rng(3).normal(0, 3, 100)) * 4096
    survivor[70:] += 1.5e8  # the other worker takes the killed one's tasks as the alert fires
    killed = worker_series(100, 7, stops_at=66)
    fault = fault_frame(culprit="web_cpu", size=0.0, rows=100, failure=70, extra=killed | {"survivor_rss": survivor})

    result = correlate_frame(fault.frame, fault.failure_at)

    top = result.suspects[0]
    assert top.metric.startswith("worker_") and top.evidence.timing == "simultaneous"
    assert next(s for s in result.suspects if s.metric == "survivor_rss").evidence.timing == "simultaneous"


def test_a_process_that_died_at_the_failure_is_a_step_there_however_loosely_it_tracks_one():
    shifts = robust_shifts(np.vstack([np.r_[np.zeros(50), np.ones(50)]] * 2), np.array([50, 50]))
    timing = np.array(["simultaneous", "leading"])
    loose = np.array([0.5, 0.99])  # its usage wandered before it died: a step correlates loosely with it
    fell, material = np.zeros(2, dtype=bool), np.ones(2)

    assert not rival_at_failure(shifts, timing, loose, fell, material)
    assert rival_at_failure(shifts, timing, loose, fell, material, gone=np.array([True, False]))
    assert not rival_at_failure(shifts, timing, loose, fell, material, gone=np.array([False, True]))


def test_a_worker_that_stopped_long_before_the_failure_is_not_read_as_gone():
    fault = fault_frame(culprit="db_cpu", size=20.0, extra=worker_series(600, 7, stops_at=150))

    result = correlate_frame(fault.frame, fault.failure_at)

    assert names(result)[0] == "db_cpu"
    assert not any("stopped reporting" in r for s in result.suspects for r in s.evidence.reasons)


def test_series_that_report_to_the_end_of_the_window_are_not_gone():
    fault = fault_frame(culprit="db_cpu", size=20.0, extra=worker_series(600, 7, stops_at=None))

    result = correlate_frame(fault.frame, fault.failure_at)

    assert names(result)[0] == "db_cpu"
    assert not any("stopped reporting" in r for s in result.suspects for r in s.evidence.reasons)


def test_granger_evidence_when_the_suspect_drives_the_target_with_a_lag():
    rng = np.random.default_rng(3)
    driver = np.zeros(600)
    for t in range(1, 600):  # an AR(1) process: its past carries information
        driver[t] = 0.8 * driver[t - 1] + rng.normal()
    latency = np.roll(driver, 3) * 2 + rng.normal(0, 0.5, 600)
    fault = fault_frame(culprit="db_cpu", extra={"db_cpu": 12 + driver, "latency": latency})

    result = correlate_frame(fault.frame, fault.failure_at, target="latency")

    driving = next(s for s in result.suspects if s.metric == "db_cpu")
    assert driving.evidence.granger is not None and driving.evidence.granger.significant
    assert driving.evidence.granger.lag_rows == 3 and driving.evidence.factors["granger"] == 1.25
    assert driving.evidence.correlation.signal == "latency"
    assert driving.evidence.correlation.lag_seconds == pytest.approx(3)
    tested = [s for s in result.suspects if s.evidence.granger and s.evidence.granger.tested]
    unrelated = [s for s in tested if s.metric in ("web_cpu", "disk_io_percent")]
    assert all(not s.evidence.granger.significant for s in unrelated)
    assert "latency" not in names(result)


def test_no_granger_evidence_without_a_target():
    fault = fault_frame()

    result = correlate_frame(fault.frame, fault.failure_at)

    assert all(s.evidence.granger is None for s in result.suspects)
    assert result.suspects[0].evidence.correlation.signal == "failure"


def test_granger_says_why_when_the_data_do_not_allow_a_test():
    latency = np.random.default_rng(1).normal(1, 0.1, 600)
    fault = fault_frame(extra={"latency": latency})

    result = correlate_frame(
        fault.frame, fault.failure_at, target="latency", config=CorrelateConfig(granger_max_lag=5, granger_rows=20)
    )

    granger = result.suspects[0].evidence.granger
    assert granger is not None and not granger.tested and "too few rows" in granger.note


def test_constant_and_empty_columns_are_skipped_and_reported():
    fault = fault_frame(extra={"idle_cpu": np.full(600, 3.0), "gone_mem": np.full(600, np.nan)})

    result = correlate_frame(fault.frame, fault.failure_at)

    assert {s.column: s.reason.split(":")[0] for s in result.skipped} == {"idle_cpu": "constant", "gone_mem": "empty"}
    assert "idle_cpu" not in names(result) and names(result)[0] == "db_cpu"


def test_counters_are_ranked_on_their_rate():
    fault = fault_frame()

    rx = next(s for s in correlate_frame(fault.frame, fault.failure_at).suspects if s.metric == "net_rx_bytes_total")

    assert rx.evidence.rate and 1e5 < rx.evidence.baseline < 2e5


@pytest.mark.parametrize("row", [-5, 0, 700])
def test_a_failure_outside_the_data_is_refused(row):
    fault = fault_frame()

    with pytest.raises(CorrelateInputError, match="outside the data"):
        correlate_frame(fault.frame, fault.time_of(row))


def test_too_short_a_window_says_how_much_is_needed():
    fault = fault_frame(rows=600, failure=2)

    with pytest.raises(CorrelateInputError, match="too short a window: 600 rows, 2 before the failure") as info:
        correlate_frame(fault.frame, fault.failure_at)

    assert "add about 1s to --before" in info.value.hint


def test_a_few_rows_before_the_failure_still_rank_and_the_evidence_says_the_baseline_is_short():
    fault = fault_frame(rows=20, failure=4, size=60.0)

    result = correlate_frame(fault.frame, fault.failure_at)

    assert names(result)[0] == "db_cpu"
    assert all(any("short baseline: 4 rows" in r for r in s.evidence.reasons) for s in result.suspects)


def test_an_unknown_or_constant_target_is_refused():
    fault = fault_frame(extra={"flat": np.ones(600)})

    with pytest.raises(CorrelateInputError, match="no column 'latncy'"):
        correlate_frame(fault.frame, fault.failure_at, target="latncy")
    with pytest.raises(CorrelateInputError, match="target 'flat' cannot be used: constant"):
        correlate_frame(fault.frame, fault.failure_at, target="flat")


def test_a_worker_that_began_reporting_at_the_failure_is_left_out_not_read_as_a_rise():
    # the replacement of a killed worker: nothing before row 398, then a growing RSS
    rss = np.full(600, np.nan)
    rss[398:] = np.linspace(8e7, 4e8, 202)
    fault = fault_frame(culprit="db_cpu", size=20.0, extra={"new_worker_rss_bytes": rss})

    result = correlate_frame(fault.frame, fault.failure_at)

    assert names(result)[0] == "db_cpu" and "new_worker_rss_bytes" not in names(result)
    (late,) = [s for s in result.skipped if s.column == "new_worker_rss_bytes"]
    assert "no baseline of its own" in late.reason
