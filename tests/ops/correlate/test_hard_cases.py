"""Hard cases: an earlier incident in the window, sparse latencies, short histories, symptoms beside causes."""

from __future__ import annotations

import numpy as np
import pytest

from bench.rca_synthetic import KINDS, callers_of
from ops.correlate import correlate_frame
from ops.correlate.resources import service_of
from ops.metrics.models import from_ns
from tests.ops.correlate.factories import fault_frame, hard_case


def test_a_larger_change_that_began_long_before_the_failure_ranks_below_the_fault_at_it():
    earlier = 30 + np.random.default_rng(1).normal(0, 3, 600)
    earlier[250:] += 300  # an earlier incident, 150 s before the failure, larger than the fault
    fault = fault_frame(culprit="db_cpu", size=40.0, extra={"web_cpu": earlier})

    result = correlate_frame(fault.frame, fault.failure_at)

    assert result.suspects[0].metric == "db_cpu"
    incident = next(s for s in result.suspects if s.metric == "web_cpu")
    assert incident.evidence.timing == "leading" and incident.evidence.factors["timing"] == 0.3  # db_cpu stepped at it
    assert any("more likely an earlier change" in r for r in incident.evidence.reasons)


def test_a_sparse_latency_with_a_zero_baseline_does_not_outrank_the_resource_that_ran_out():
    rng = np.random.default_rng(2)
    sparse = np.where(rng.random(600) < 0.9, 0.0, rng.uniform(1, 3, 600))
    sparse[400:] = rng.uniform(20, 30, 200)  # requests resume after the failure: z in the thousands
    fault = fault_frame(culprit="db_cpu", size=40.0, extra={"report_lat": sparse})

    result = correlate_frame(fault.frame, fault.failure_at)

    assert result.suspects[0].metric == "db_cpu"


def test_a_service_whose_cpu_saturates_ranks_its_cpu_above_its_own_latency():
    rng = np.random.default_rng(3)
    latency = 0.05 + rng.gamma(2, 0.005, 600)
    latency[400:] += 2.0  # the symptom moves far more, in its own sigmas, than the CPU
    fault = fault_frame(culprit="db_cpu", size=40.0, extra={"db_lat": latency})

    result = correlate_frame(fault.frame, fault.failure_at)

    assert result.suspects[0].metric == "db_cpu"
    symptom = next(s for s in result.suspects if s.metric == "db_lat")
    assert symptom.evidence.factors["symptom"] == 0.5 and any("a symptom" in r for r in symptom.evidence.reasons)


@pytest.mark.parametrize("kind", KINDS)
def test_generated_cases_have_a_short_history_at_one_row_a_minute_and_hit_the_callers(kind):
    case = hard_case(kind, seed=11)

    steps = np.diff(case.frame.times) / 1e9
    assert np.all(steps == 60) and 3 <= case.failure_row < 40
    lat = case.frame.values[case.frame.column(f"{case.service}_lat")]
    for caller in callers_of(case.service):
        caller_lat = case.frame.values[case.frame.column(f"{caller}_lat")]
        assert np.median(caller_lat[case.failure_row :]) > 0 or np.median(lat[case.failure_row :]) > 0


def test_on_generated_hard_cases_the_fault_service_ranks_first_more_often_than_the_largest_robust_jump():
    cases = [hard_case(kind, seed) for kind in KINDS for seed in range(8)]
    ours = jump = 0
    for case in cases:
        failure_at = from_ns(int(case.frame.times[case.failure_row]))
        ours += service_of(correlate_frame(case.frame, failure_at).suspects[0].metric) == case.service
        before, after = case.frame.values[:, : case.failure_row], case.frame.values[:, case.failure_row :]
        median = np.median(before, axis=1)
        mad = 1.4826 * np.median(np.abs(before - median[:, None]), axis=1)
        z = np.max(np.abs(after - median[:, None]), axis=1) / np.where(mad > 0, mad, 1.0)
        jump += service_of(case.frame.names[int(np.argmax(z))]) == case.service

    assert ours > jump and ours >= 0.85 * len(cases)


def test_a_change_long_before_the_failure_keeps_its_weight_when_nothing_else_stepped_at_the_failure():
    fault = fault_frame(culprit="db_cpu", size=40.0, onset=250)  # a hog the failure followed 150 s later

    top = correlate_frame(fault.frame, fault.failure_at).suspects[0]

    assert top.metric == "db_cpu" and top.evidence.timing == "leading" and top.evidence.factors["timing"] == 1.0


def test_a_sparse_latency_is_measured_on_its_answered_minutes():
    rng = np.random.default_rng(4)
    sparse = np.where(rng.random(600) < 0.7, 0.0, rng.uniform(9, 11, 600))
    sparse[400:] = rng.uniform(9, 11, 200)  # requests every minute after the failure, just as fast
    fault = fault_frame(culprit="db_cpu", size=40.0, extra={"report_lat": sparse})

    report = next(s for s in correlate_frame(fault.frame, fault.failure_at).suspects if s.metric == "report_lat")

    assert abs(report.evidence.z) < 3 and 9 < report.evidence.baseline < 11
    assert any("sparse latency" in r for r in report.evidence.reasons)


def test_the_callee_whose_latency_rose_by_the_larger_share_ranks_above_its_caller():
    rng = np.random.default_rng(5)
    callee = 10 + rng.normal(0, 0.3, 600)
    callee[400:] += 50  # a network delay on the callee
    caller = 100 + callee + rng.normal(0, 0.3, 600)  # the caller waits for the callee: the same 50 ms more
    fault = fault_frame(culprit="db_cpu", size=0.0, extra={"api_lat": caller, "db_lat": callee})

    result = correlate_frame(fault.frame, fault.failure_at)

    assert result.suspects[0].metric == "db_lat"
    inherited = next(s for s in result.suspects if s.metric == "api_lat")
    assert inherited.evidence.factors["origin"] < 0.5 and any("callee" in r for r in inherited.evidence.reasons)
