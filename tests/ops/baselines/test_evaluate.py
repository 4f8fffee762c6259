"""Judging recent points against fitted baselines: fleet look-ups and confirmed level shifts."""

from __future__ import annotations

import numpy as np
import pytest

from ops.baselines.evaluate import check_bands, expected_many
from ops.baselines.fit import fit_series
from tests.ops.baselines.fleet import (
    DAY_ROWS,
    daily_series,
    noise_series,
    weekday_series,
    with_values,
)


def test_fleet_lookup_matches_each_baseline_on_its_own() -> None:
    baselines = [fit_series(daily_series()), fit_series(weekday_series()), fit_series(noise_series())]
    seconds = np.arange(0, 7 * 86_400, 450.0) + 1.8e9
    row = np.repeat(np.arange(3), len(seconds))
    flat = expected_many(baselines, row, np.tile(seconds, 3))
    for i, baseline in enumerate(baselines):
        np.testing.assert_allclose(flat[row == i], baseline.expected(seconds))


def test_a_confirmed_level_shift_alerts_then_rebaselines() -> None:
    baseline = fit_series(noise_series())
    after = noise_series(days=1, seed=7)
    values = after.values.copy()
    values[100:] += 60.0  # a new normal, twelve sigmas up
    (check,) = check_bands([baseline], [with_values(after, values)], z=4.0, shift_points=12)
    outside = np.flatnonzero(check.outside())
    assert outside[0] == 100
    assert outside.max() < 100 + 12 + 5  # it stops alerting once the shift is confirmed
    assert check.shifted is not None
    assert check.shifted.level == pytest.approx(baseline.level + 60.0, abs=3.0)
    assert check.shifted.rebaselined_at is not None


def test_short_excursions_do_not_rebaseline() -> None:
    baseline = fit_series(daily_series())
    tomorrow = daily_series(days=1, seed=3, offset_days=14)
    values = tomorrow.values.copy()
    values[50:57] += 100.0  # seven points: fewer than two thirds of the twelve that confirm a shift
    (check,) = check_bands([baseline], [with_values(tomorrow, values)], z=4.0, shift_points=12)
    assert check.shifted is None
    assert set(range(50, 57)) <= set(np.flatnonzero(check.outside()))


def test_direction_and_minimum_deviation_filter_the_points() -> None:
    baseline = fit_series(noise_series())
    after = noise_series(days=1, seed=8)
    values = after.values.copy()
    values[[10, 20]] = [200.0, -100.0]
    (check,) = check_bands([baseline], [with_values(after, values)], z=4.0)
    assert np.flatnonzero(check.outside("above")).tolist() == [10]
    assert np.flatnonzero(check.outside("below")).tolist() == [20]
    assert not check.outside("both", min_deviation=1_000.0).any()


def test_series_without_points_are_judged_empty() -> None:
    baseline = fit_series(daily_series())
    empty = with_values(daily_series(days=1), np.full(DAY_ROWS, np.nan))
    (check,) = check_bands([baseline], [empty], z=4.0)
    assert not check.outside().any()
