"""The streaming detector on synthetic series with known seasonality and anomalies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ops.baselines import DetectorConfig, detect, score_series
from ops.baselines.detector import arrival_clock, suppress
from ops.baselines.seasonality import DAY, WEEK
from tests.ops.baselines.synthetic import (
    DAY_ROWS,
    daily,
    daily_peak_rows,
    timestamps,
    weekly,
)

CONFIG = DetectorConfig()
DAILY = 1 + DetectorConfig().season.periods.index(DAY)
WEEKLY = 1 + DetectorConfig().season.periods.index(WEEK)


def normal_rows(rows: int, start: int, anomalies: list[int], after: int = 6) -> np.ndarray:
    mask = np.zeros(rows, dtype=bool)
    mask[start:] = True
    for a in anomalies:
        mask[a : a + after] = False
    return mask


def test_daily_spikes_score_high_and_daily_peaks_do_not() -> None:
    ts, x = daily(days=14)
    spikes = [6 * DAY_ROWS + 60, 8 * DAY_ROWS + 170, 10 * DAY_ROWS + 175, 12 * DAY_ROWS + 250]
    x[spikes] += np.array([10.0, -10.0, 10.0, 10.0])  # 10 sigma, two of them on the daily peak
    d = detect(ts, x)
    assert (d.season[5 * DAY_ROWS :] == DAILY).all()
    assert d.score[spikes].min() > 0.8
    normal = normal_rows(len(x), 5 * DAY_ROWS, spikes)
    peaks = np.intersect1d(np.flatnonzero(normal), daily_peak_rows(len(x)))
    assert d.score[peaks].max() < 0.5
    assert np.quantile(d.score[normal], 0.99) < 0.1


def test_weekly_season_is_learned_and_a_missing_business_day_is_flagged() -> None:
    ts, x = weekly(weeks=10)
    wednesday = (7 * 7 + 2) * 24
    x[wednesday + 8 : wednesday + 18] -= 60  # a weekday that looks like a weekend
    d = detect(ts, x)
    assert (d.season[3 * 7 * 24 :] == WEEKLY).all()
    assert d.score[wednesday + 8] > 0.9
    normal = normal_rows(len(x), 3 * 7 * 24, [wednesday], after=36)
    assert d.score[normal].max() < 0.5


def test_noise_without_season_uses_no_seasonal_profile() -> None:
    rows = 14 * DAY_ROWS
    x = np.random.default_rng(3).normal(10, 1, rows)
    d = detect(timestamps(rows), x)
    assert (d.season[DAY_ROWS * 3 :] == 0).mean() > 0.95


def test_level_shift_is_rebaselined() -> None:
    rows, shift_at = 3000, 2000
    x = np.random.default_rng(5).normal(100, 1, rows)
    x[shift_at:] += 15
    d = detect(timestamps(rows), x)
    assert d.score[shift_at] > 0.9
    settled = shift_at + CONFIG.season.level_window
    assert d.score[settled:].max() < 0.5
    assert abs(np.median(d.forecast[settled:]) - 115) < 0.5


def test_anomalies_in_the_history_do_not_inflate_the_band() -> None:
    rows = 3000
    rng = np.random.default_rng(11)
    x = rng.normal(0, 1, rows)
    bad = rng.choice(np.arange(100, 1500), size=75, replace=False)  # 5 % of the history
    x[bad] += rng.choice([-1, 1], size=75) * 50
    d = detect(timestamps(rows), x)
    assert np.std(x[:1500]) > 5  # a mean/std band would be five times too wide
    assert d.scale[2000:].max() < 1.6  # the robust one stays near the true 1.0 (plus forecast noise)
    x[2500] += 8
    assert detect(timestamps(rows), x).score[2500] > 0.8


def test_missing_rows_and_missing_values_are_tolerated() -> None:
    ts, x = daily(days=14, seed=2)
    spike = 10 * DAY_ROWS + 100
    x[spike] += 12
    rng = np.random.default_rng(4)
    keep = rng.random(len(x)) > 0.15  # 15 % of the rows never arrive: irregular timestamps
    keep[spike] = True
    at = int(np.cumsum(keep)[spike]) - 1
    ts, x = ts[keep], x[keep]
    blank = rng.choice(np.delete(np.arange(len(x)), at), size=40, replace=False)
    x[blank] = np.nan  # and some arrive without a value
    d = detect(ts, x)
    assert np.isfinite(d.score).all()
    assert (d.score[blank] == 0).all()
    assert d.score[at] > 0.8
    assert (d.season[6 * DAY_ROWS :] == DAILY).mean() > 0.9
    normal = normal_rows(len(x), 6 * DAY_ROWS, [at])
    assert np.quantile(d.score[normal], 0.99) < 0.2


@pytest.mark.parametrize("value", [0.0, 42.0, -3.5e9])
def test_constant_series_gives_no_anomalies_and_no_nan(value: float) -> None:
    rows = 2000
    d = detect(timestamps(rows), np.full(rows, value))
    assert np.isfinite(d.score).all()
    assert (d.score == 0).all()


def test_quantised_near_constant_series_does_not_explode() -> None:
    rows = 3000
    rng = np.random.default_rng(8)
    x = np.where(rng.random(rows) < 0.05, 0.068, 0.066)  # mostly flat, one quantum up now and then
    scores = score_series(timestamps(rows), x)
    assert np.isfinite(scores).all()
    assert scores[500:].max() < 0.5
    x[2500] = 0.2
    assert score_series(timestamps(rows), x)[2500] > 0.9


def test_counter_is_scored_on_its_rate() -> None:
    rows = 3000
    rng = np.random.default_rng(9)
    increments = rng.poisson(100, rows).astype(float)
    increments[2500] = 400  # a burst of traffic
    total = np.cumsum(increments)
    total[1800:] -= total[1799]  # the process restarted: the counter reset to 0
    d = detect(timestamps(rows), total)
    assert d.counter[100:].all()
    assert d.score[1800] < 0.5
    assert d.score[2500] > 0.9


def test_scores_stay_in_unit_interval_on_wild_input() -> None:
    rng = np.random.default_rng(12)
    rows = 2500
    x = np.concatenate([rng.standard_cauchy(rows // 2) * 1e6, rng.exponential(1e-6, rows - rows // 2)])
    x[rng.choice(rows, 50)] = np.nan
    x[rng.choice(rows, 50)] = np.inf
    scores = score_series(timestamps(rows), x)
    assert np.isfinite(scores).all()
    assert ((scores >= 0) & (scores <= 1)).all()


def test_numeric_seconds_and_aware_timestamps_work_like_datetimes() -> None:
    ts, x = daily(days=4)
    expected = score_series(ts, x)
    seconds = ts.astype("datetime64[s]").astype(np.int64).astype(float)
    np.testing.assert_array_equal(score_series(seconds, x), expected)
    aware = pd.DatetimeIndex(ts).tz_localize("UTC").tz_convert("Europe/Paris")
    np.testing.assert_array_equal(score_series(aware, x), expected)


def test_late_rows_are_scored_at_the_latest_time_seen() -> None:
    seconds = np.array([0.0, 10.0, 5.0, 10.0, 20.0, 15.0, 30.0])
    clock = arrival_clock(seconds)
    np.testing.assert_array_equal(clock.seconds, [0, 10, 10, 10, 20, 20, 30])
    assert (clock.late, clock.duplicate) == (2, 0)
    assert arrival_clock(np.array([0.0, 0.0, 1.0])).duplicate == 1


def test_out_of_order_timestamps_are_scored_in_arrival_order() -> None:
    ts, x = daily(days=6)
    x[5 * DAY_ROWS] += 15
    late = ts.copy()
    late[[300, 301]] = late[[301, 300]]  # one late point, well before the spike
    scores = score_series(late, x)
    assert scores.shape == x.shape and ((scores >= 0) & (scores <= 1)).all()
    assert int(np.argmax(scores)) == 5 * DAY_ROWS
    np.testing.assert_array_equal(score_series(late[:1000], x[:1000]), scores[:1000])
    with pytest.raises(ValueError, match="same length"):
        score_series(timestamps(10), np.arange(9.0))


def test_suppression_damps_scores_after_a_detection_only() -> None:
    score = np.array([0.1, 0.9, 0.7, 0.7, 0.2, 0.7])
    config = DetectorConfig(suppress_rows=3, suppress_level=0.6, suppress_factor=0.5)
    np.testing.assert_allclose(suppress(score, config), [0.1, 0.9, 0.35, 0.35, 0.1, 0.35])
    np.testing.assert_array_equal(suppress(score, DetectorConfig(suppress_rows=0)), score)


def test_empty_and_tiny_series() -> None:
    assert score_series(timestamps(0), np.array([])).shape == (0,)
    assert (score_series(timestamps(3), np.array([1.0, 5.0, 2.0])) == 0).all()
