"""The lag-based scaling policy: a plain function of the lag history, within bounds, with hysteresis and cool-down."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sluice.errors import ConfigError
from sluice.sources.streams.scale import ScalingPolicy, desired_consumers

POLICY = ScalingPolicy(min_consumers=1, max_consumers=4, high_water=1000, low_water=100, sustain=3, cooldown=2)


def test_a_lag_above_the_high_water_mark_for_sustain_samples_adds_one_consumer() -> None:
    assert desired_consumers([5000, 5000, 5000], 1, POLICY, since_change=5) == 2
    assert desired_consumers([5000, 5000], 1, POLICY, since_change=5) == 1  # not sustained long enough yet
    assert desired_consumers([5000, 900, 5000], 1, POLICY, since_change=5) == 1  # a dip breaks the run


def test_a_lag_below_the_low_water_mark_for_sustain_samples_removes_one_consumer() -> None:
    assert desired_consumers([50, 0, 10], 3, POLICY, since_change=5) == 2
    assert desired_consumers([50, 500, 10], 3, POLICY, since_change=5) == 3


def test_a_lag_between_the_marks_moves_nothing() -> None:
    assert desired_consumers([500, 500, 500], 2, POLICY, since_change=50) == 2


def test_the_count_stays_within_its_bounds() -> None:
    assert desired_consumers([9999] * 3, 4, POLICY, since_change=5) == 4
    assert desired_consumers([0] * 3, 1, POLICY, since_change=5) == 1
    assert desired_consumers([], 7, POLICY, since_change=0) == 4  # above the bounds: back at once
    assert desired_consumers([], 0, POLICY, since_change=0) == 1


def test_no_change_during_the_cool_down_after_a_change() -> None:
    assert desired_consumers([5000] * 3, 2, POLICY, since_change=1) == 2
    assert desired_consumers([5000] * 3, 2, POLICY, since_change=2) == 3


def test_an_unknown_lag_moves_nothing() -> None:
    assert desired_consumers([5000, None, 5000], 1, POLICY, since_change=5) == 1


def test_a_policy_with_crossed_bounds_or_marks_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="max_consumers"):
        ScalingPolicy(min_consumers=3, max_consumers=2)
    with pytest.raises(ConfigError, match="low_water"):
        ScalingPolicy(high_water=100, low_water=100)
    with pytest.raises(ConfigError, match="min_consumers"):
        ScalingPolicy(min_consumers=0)


@given(
    lags=st.lists(st.one_of(st.none(), st.integers(0, 10_000)), max_size=10),
    current=st.integers(0, 8),
    since=st.integers(0, 10),
    low=st.integers(0, 500),
    span=st.integers(1, 5000),
    bounds=st.tuples(st.integers(1, 4), st.integers(0, 4)),
)
def test_any_history_gives_a_count_in_bounds_at_most_one_step_from_a_bounded_one(
    lags: list[int | None], current: int, since: int, low: int, span: int, bounds: tuple[int, int]
) -> None:
    policy = ScalingPolicy(bounds[0], bounds[0] + bounds[1], low + span, low, sustain=2, cooldown=1)
    found = desired_consumers(lags, current, policy, since)
    assert policy.min_consumers <= found <= policy.max_consumers
    if policy.min_consumers <= current <= policy.max_consumers:
        assert abs(found - current) <= 1


def test_an_idle_run_ends_only_once_the_lag_is_read_as_zero() -> None:
    from sluice.sources.streams.scale import UNKNOWN_LAG_QUIET, SuperviseSpec, run_finished

    spec = SuperviseSpec(interval_s=0.2, follow_s=0.0, idle_s=2.0)
    assert run_finished(spec, 30.0, 2.5, 0, at_floor=True)
    assert not run_finished(spec, 30.0, 2.5, 40, at_floor=True)  # a backlog: consumers will commit again
    assert not run_finished(spec, 30.0, 2.5, None, at_floor=True)  # unread is not drained
    assert run_finished(spec, 60.0, UNKNOWN_LAG_QUIET * 2.0, None, at_floor=True)  # but nothing came for long
    assert not run_finished(spec, 30.0, 2.5, 0, at_floor=False)
