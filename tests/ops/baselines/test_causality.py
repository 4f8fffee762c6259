"""The detector is strictly causal: a row's score depends on that row and the rows before it only."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ops.baselines import detect, score_series
from tests.ops.baselines.synthetic import DAY_ROWS, daily, timestamps, weekly


def assert_prefix_stable(ts: np.ndarray, x: np.ndarray, cuts: list[int]) -> None:
    full = detect(ts, x)
    for cut in cuts:
        part = detect(ts[:cut], x[:cut])
        for name in ("score", "forecast", "scale", "z", "season", "counter"):
            np.testing.assert_array_equal(
                getattr(part, name), getattr(full, name)[:cut], err_msg=f"{name} at cut {cut}"
            )


def messy_daily() -> tuple[np.ndarray, np.ndarray]:
    """Daily season, spikes, a level shift, missing rows and missing values."""
    ts, x = daily(days=9, seed=21)
    rng = np.random.default_rng(22)
    x[rng.choice(len(x), 20, replace=False)] += 25
    x[5 * DAY_ROWS :] += 10
    keep = rng.random(len(x)) > 0.1
    ts, x = ts[keep], x[keep]
    x[rng.choice(len(x), 30, replace=False)] = np.nan
    return ts, x


def test_prefix_scores_equal_full_scores_at_random_cuts() -> None:
    ts, x = messy_daily()
    rng = np.random.default_rng(23)
    cuts = sorted({1, 2, 17, 63, 64, 65, 500, *rng.integers(3, len(x), 12).tolist()})
    assert_prefix_stable(ts, x, cuts)


def test_prefix_stable_with_weekly_season_and_counters() -> None:
    ts, x = weekly(weeks=6, seed=3)
    rng = np.random.default_rng(24)
    assert_prefix_stable(ts, x, rng.integers(2, len(x), 8).tolist())
    rows = 1500
    counter = np.cumsum(rng.poisson(50, rows)).astype(float)
    counter[900:] -= counter[899]
    assert_prefix_stable(timestamps(rows), counter, [40, 60, 899, 900, 901, 1234])


def test_future_rows_do_not_change_past_scores() -> None:
    ts, x = messy_daily()
    cut = 1700
    altered = x.copy()
    altered[cut:] = np.random.default_rng(25).normal(0, 1e6, len(x) - cut)
    np.testing.assert_array_equal(score_series(ts, x)[:cut], score_series(ts, altered)[:cut])


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    rows=st.integers(0, 900),
    cut=st.floats(0, 1),
    scale=st.sampled_from([1e-9, 1.0, 1e9]),
    gaps=st.booleans(),
)
def test_prefix_property_and_bounds_on_random_series(
    seed: int, rows: int, cut: float, scale: float, gaps: bool
) -> None:
    rng = np.random.default_rng(seed)
    x = np.cumsum(rng.standard_t(2, rows)) * scale
    x[rng.random(rows) < 0.05] = np.nan
    steps = rng.integers(1, 4, rows) if gaps else np.ones(rows, dtype=np.int64)
    ts = np.datetime64("2024-01-01T00:00", "m") + np.cumsum(steps * 5).astype("timedelta64[m]")
    full = score_series(ts, x)
    assert ((full >= 0) & (full <= 1)).all()
    k = int(cut * rows)
    np.testing.assert_array_equal(score_series(ts[:k], x[:k]), full[:k])
