"""The anomaly checks of a commit: rows written against earlier runs, and a quarantine spike."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ops.baselines.commit_checks import RunPoint, check_quarantine_spike, check_row_count
from sluice.validate.contract_parts import VerifySpec

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
SPEC = VerifySpec(row_count=True, quarantine_spike=True, min_runs=10)


def _runs(written: list[int], quarantined: int = 5) -> list[RunPoint]:
    return [RunPoint(T0 + timedelta(hours=i), w + quarantined, w, quarantined) for i, w in enumerate(written)]


def _next(written: int, quarantined: int = 5, n: int = 30) -> RunPoint:
    return RunPoint(T0 + timedelta(hours=n), written + quarantined, written, quarantined)


STEADY = [1000 + (37 * i) % 60 for i in range(30)]


def test_a_run_in_the_usual_range_passes():
    verdict = check_row_count(_next(1030), _runs(STEADY), SPEC)
    assert verdict.passed, verdict.reason


@pytest.mark.parametrize("written", [20, 50_000])
def test_a_run_far_outside_the_baseline_fails_with_its_score(written):
    verdict = check_row_count(_next(written), _runs(STEADY), SPEC)
    assert not verdict.passed
    assert f"{written:,} rows written against a usual" in verdict.reason and "anomaly score" in verdict.reason


def test_too_little_history_is_not_judged():
    verdict = check_row_count(_next(50_000), _runs(STEADY[:4]), SPEC)
    assert verdict.passed and "not judged: 4 earlier run(s)" in verdict.reason


def test_a_quarantine_spike_fails_and_a_usual_share_passes():
    earlier = _runs(STEADY, quarantined=10)
    assert check_quarantine_spike(_next(1000, quarantined=12), earlier, SPEC).passed
    spike = check_quarantine_spike(_next(500, quarantined=500), earlier, SPEC)
    assert not spike.passed and "50.0% of 1,000 rows quarantined" in spike.reason


def test_one_bad_row_in_a_dataset_that_never_quarantines_is_no_spike():
    verdict = check_quarantine_spike(_next(999, quarantined=1), _runs(STEADY, quarantined=0), SPEC)
    assert verdict.passed, verdict.reason
