"""Baseline fits on synthetic series with known seasonality, gaps, counters and training anomalies."""

from __future__ import annotations

import numpy as np
import pytest

from ops.baselines.evaluate import check_bands
from ops.baselines.fit import FitConfig, fit_many, fit_series
from ops.errors import BaselineInputError
from ops.metrics.models import Series
from tests.ops.baselines.fleet import (
    DAY_ROWS,
    counter_series,
    daily_series,
    noise_series,
    spiked,
    weekday_series,
    with_values,
)


def test_daily_wave_is_fitted_with_a_daily_season_chosen_by_backtest() -> None:
    baseline = fit_series(daily_series())
    assert baseline.model == "daily"
    assert "daily" in baseline.seasons
    assert baseline.backtest["daily"] < 0.5 * baseline.backtest["none"]
    assert 2.0 < baseline.scale < 4.5  # the noise is 3.0


def test_weekday_business_hours_need_the_weekly_profile() -> None:
    baseline = fit_series(weekday_series())
    assert "weekly" in baseline.model
    next_week = weekday_series(days=7, seed=1, offset_days=14)
    (check,) = check_bands([baseline], [next_week], z=5.0)
    assert check.outside().mean() < 0.01  # weekends and weekday peaks are both normal


def test_white_noise_gets_no_season() -> None:
    baseline = fit_series(noise_series())
    assert baseline.model == "none"
    assert baseline.level == pytest.approx(50, abs=2.5)


def test_anomalies_in_the_training_window_do_not_widen_the_band() -> None:
    clean = daily_series()
    rows = np.random.default_rng(3).choice(len(clean), 60, replace=False)
    dirty = spiked(clean, rows, 400.0)
    assert fit_series(dirty).scale == pytest.approx(fit_series(clean).scale, rel=0.1)
    assert np.std(dirty.values) > 1.5 * np.std(clean.values)  # a band from the raw std would widen a lot


def test_next_day_anomalies_are_caught_and_daily_peaks_are_not() -> None:
    baseline = fit_series(daily_series())
    tomorrow = daily_series(days=1, seed=9, offset_days=14)
    anomalies = np.array([40, 41, 200])
    (check,) = check_bands([baseline], [spiked(tomorrow, anomalies, 60.0)], z=5.0)
    flagged = np.flatnonzero(check.outside())
    assert set(anomalies) <= set(flagged)
    assert len(set(flagged) - set(anomalies)) <= 1


def test_missing_points_and_a_gap_still_fit() -> None:
    series = daily_series(seed=4)
    values = series.values.copy()
    values[np.random.default_rng(5).random(len(values)) < 0.3] = np.nan
    values[5 * DAY_ROWS : 5 * DAY_ROWS + 72] = np.nan  # six hours with nothing
    keep = ~np.isnan(values) | (np.arange(len(values)) % 2 == 0)  # some absent, some present as NaN
    gappy = Series(series.metric, series.labels, series.timestamps[keep], values[keep])
    baseline = fit_series(gappy)
    assert baseline.model == "daily"
    assert baseline.coverage > 0.9
    assert baseline.scale < 4.5


def test_counter_is_fitted_on_its_rate_and_the_reset_is_not_an_anomaly() -> None:
    series = counter_series()
    baseline = fit_series(series)
    assert baseline.counter
    assert baseline.level == pytest.approx(20.0, rel=0.05)
    (check,) = check_bands([baseline], [series], z=5.0)
    assert not check.outside().any()


def test_sparse_low_volume_counts_get_a_band_of_at_least_one_count() -> None:
    series = noise_series()
    counts = np.random.default_rng(2).poisson(0.3, len(series)).astype(float)
    baseline = fit_series(with_values(series, counts))
    assert baseline.scale >= 1.0
    (check,) = check_bands([baseline], [with_values(series, counts)], z=4.0)
    assert check.outside().mean() < 0.01


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (np.full(100, 7.0), "constant series"),
        (np.arange(10.0), "needs at least 24"),
    ],
)
def test_unfittable_series_are_refused_with_the_reason(values: np.ndarray, message: str) -> None:
    series = with_values(noise_series(), np.full(len(noise_series()), np.nan))
    series = Series(series.metric, series.labels, series.timestamps[: len(values)], values)
    with pytest.raises(BaselineInputError, match=message) as info:
        fit_series(series)
    assert info.value.hint


def test_timestamps_going_backwards_are_refused() -> None:
    series = noise_series()
    stamps = series.timestamps.copy()
    stamps[[10, 11]] = stamps[[11, 10]]
    with pytest.raises(BaselineInputError, match="do not increase at point 11"):
        fit_series(Series(series.metric, series.labels, stamps, series.values))


def test_a_fleet_fit_reports_the_series_it_cannot_fit_and_fits_the_rest() -> None:
    good = daily_series()
    flat = with_values(noise_series(), np.full(len(noise_series()), 3.0))
    result = fit_many([good, flat])
    assert [b.labels["dataset"] for b in result.baselines] == ["daily"]
    assert [r.labels["dataset"] for r in result.rejected] == ["noise"]
    assert "static" in result.rejected[0].hint


def test_stl_method_finds_the_same_season() -> None:
    series = daily_series(days=5)
    hourly = Series(series.metric, series.labels, series.timestamps[::12], series.values[::12])
    baseline = fit_series(hourly, FitConfig(method="stl"))
    assert baseline.model == "daily"
    assert baseline.method == "stl"
    assert 2.0 < baseline.scale < 6.0


@pytest.mark.parametrize(
    ("points", "hint"),
    [
        (10, "24 points at one per 5s span 115s: keep the sampler service running"),
        (1, "once the series has 24 points"),
    ],
)
def test_too_little_history_says_how_long_a_since_the_points_need_at_their_own_spacing(points: int, hint: str) -> None:
    stamps = np.arange(points, dtype="int64") * 5_000_000_000 + 1_772_000_000_000_000_000

    with pytest.raises(BaselineInputError, match=f"too little history: {points} points") as info:
        fit_series(Series("sluice_host_cpu_percent", {"host": "h1"}, stamps, np.arange(points, dtype=float)))

    assert hint in str(info.value.hint)
    assert " s " not in str(info.value.hint)  # durations as --since takes them
