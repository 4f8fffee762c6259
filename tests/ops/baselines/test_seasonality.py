"""Same-phase lookups, seasonal profiles and the causal choice of season."""

from __future__ import annotations

import numpy as np

from ops.baselines.seasonality import (
    DAY,
    SeasonConfig,
    baseline,
    same_phase_rows,
    seasonal_profile,
)
from tests.ops.baselines.synthetic import DAY_ROWS, daily, timestamps


def seconds(ts: np.ndarray) -> np.ndarray:
    return ts.astype("datetime64[s]").astype(np.int64).astype(float)


def test_same_phase_rows_regular_and_irregular_agree() -> None:
    s = seconds(timestamps(1000))
    regular = same_phase_rows(s, DAY, 300.0)
    np.testing.assert_array_equal(regular, np.where(np.arange(1000) >= DAY_ROWS, np.arange(1000) - DAY_ROWS, -1))
    jittered = s.copy()
    jittered[1:] += 1e-3  # defeats the regular-grid shortcut, same answer
    np.testing.assert_array_equal(same_phase_rows(jittered, DAY, 300.0), regular)


def test_same_phase_rows_report_gaps() -> None:
    s = seconds(timestamps(1000))
    keep = np.ones(1000, dtype=bool)
    keep[100:200] = False  # four hours never arrived
    rows = same_phase_rows(s[keep], DAY, 150.0)
    t = np.flatnonzero(keep)
    expected = t - DAY_ROWS
    hit = rows >= 0
    np.testing.assert_array_equal(t[rows[hit]], expected[hit])
    assert not hit[(expected >= 100) & (expected < 200)].any()


def test_seasonal_profile_ignores_one_anomalous_cycle() -> None:
    ts, x = daily(days=5, noise=0.0)
    x[3 * DAY_ROWS + 50] += 1000  # yesterday's anomaly at this phase
    profile = seasonal_profile(seconds(ts), x, DAY, 3, 300.0)
    t = 4 * DAY_ROWS + 50
    assert abs(profile[t] - x[t]) < 1e-9


def test_season_is_chosen_only_once_it_forecasts_better() -> None:
    ts, x = daily(days=8)
    b = baseline(seconds(ts), x, SeasonConfig())
    assert (b.season[:DAY_ROWS] == 0).all()  # no full cycle yet
    assert (b.season[3 * DAY_ROWS :] == 1).all()
    flat = np.random.default_rng(0).normal(0, 1, len(x))
    assert (baseline(seconds(ts), flat, SeasonConfig()).season == 0).mean() > 0.95
