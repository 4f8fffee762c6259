"""Trailing robust statistics against brute-force definitions."""

from __future__ import annotations

import numpy as np
import pytest

from ops.baselines import robust


def brute(x: np.ndarray, window: int, stat, min_periods: int = 1) -> np.ndarray:
    out = np.full(len(x), np.nan)
    for t in range(len(x)):
        past = x[max(0, t - window) : t]
        past = past[np.isfinite(past)]
        if len(past) >= min_periods and len(past):
            out[t] = stat(past)
    return out


@pytest.fixture
def series() -> np.ndarray:
    rng = np.random.default_rng(1)
    x = rng.standard_cauchy(700)
    x[rng.random(700) < 0.1] = np.nan
    return x


@pytest.mark.parametrize("window", [1, 5, 12, 64, 65, 300])
def test_trailing_median(series: np.ndarray, window: int) -> None:
    np.testing.assert_allclose(robust.trailing_median(series, window, 3), brute(series, window, np.median, 3))


@pytest.mark.parametrize("min_periods", [1, 40])
def test_trailing_block_median(series: np.ndarray, min_periods: int) -> None:
    block, blocks = 32, 5
    got = robust.trailing_block_median(series, block, blocks, min_periods)
    for t in range(len(series)):
        if t < block:
            past = series[:t][np.isfinite(series[:t])]
            expected = np.median(past) if len(past) >= min_periods and len(past) else np.nan
        else:
            k = t // block
            cells = [series[j * block : (j + 1) * block] for j in range(max(0, k - blocks), k)]
            medians = [np.median(c[np.isfinite(c)]) for c in cells if np.isfinite(c).any()]
            enough = sum(np.isfinite(c).sum() for c in cells) >= min_periods
            expected = np.median(medians) if medians and enough else np.nan
        np.testing.assert_allclose(got[t], expected, err_msg=f"row {t}")


@pytest.mark.parametrize("window", [1, 7, 50, 699, 900])
def test_trailing_max(series: np.ndarray, window: int) -> None:
    np.testing.assert_allclose(robust.trailing_max(series, window), brute(series, window, np.max))


def test_trailing_mean_and_counts(series: np.ndarray) -> None:
    mean, count = robust.trailing_mean(series, 40)
    np.testing.assert_allclose(mean, brute(series, 40, np.mean), rtol=1e-9, atol=1e-9)
    expected = [np.isfinite(series[max(0, t - 40) : t]).sum() for t in range(len(series))]
    np.testing.assert_array_equal(count, expected)
    np.testing.assert_array_equal(robust.trailing_counts(series, 40), expected)


def test_nanmedian_rows() -> None:
    a = np.array([[3.0, np.nan, 1.0, 2.0], [np.nan] * 4, [4.0, 1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(robust.nanmedian_rows(a), [2.0, np.nan, 2.5])


def test_mad_scale_ignores_a_few_outliers() -> None:
    rng = np.random.default_rng(2)
    e = rng.normal(0, 2.0, 2000)
    e[rng.choice(2000, 100, replace=False)] = 1e6
    assert robust.trailing_mad_scale(e, 1000, 10)[-1] == pytest.approx(2.0, rel=0.15)


def test_resolution_is_the_typical_nonzero_step() -> None:
    x = np.array([1.0, 1.0, 1.5, 1.5, 1.0, 1.0, 1.0, 1.5])
    res = robust.trailing_resolution(x, 10)
    assert np.isnan(res[:3]).all()  # no change seen before row 3
    assert res[-1] == pytest.approx(0.5)


def test_nanmedian_rows_of_three_columns_matches_numpy() -> None:
    rng = np.random.default_rng(3)
    a = rng.standard_normal((500, 3))
    a[rng.random((500, 3)) < 0.3] = np.nan
    expected = [np.nanmedian(r) if np.isfinite(r).any() else np.nan for r in a]
    np.testing.assert_allclose(robust.nanmedian_rows(a), expected)
