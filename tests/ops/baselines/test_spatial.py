"""Range novelty and pattern novelty: hand-made series (a spike, a new pattern), causality, hostile input."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ops.baselines.spatial import (
    PatternConfig,
    RangeConfig,
    first_occurrences,
    learned_bins,
    pattern_codes,
    pattern_novelty,
    range_novelty,
    rows_since_record,
    running_range,
)


def sine(rows: int, period: int = 50, noise: float = 0.01, seed: int = 0) -> np.ndarray:
    """One cycle tiled (so cycles repeat exactly), plus normal noise."""
    rng = np.random.default_rng(seed)
    cycle = 10 + np.sin(2 * np.pi * np.arange(period) / period)
    return np.resize(cycle, rows) + rng.normal(0, noise, rows)


def test_running_range_covers_only_the_rows_before() -> None:
    lo, hi, count = running_range(np.array([3.0, np.nan, 1.0, 5.0, 2.0]))
    assert np.isnan(lo[0]) and np.isnan(hi[0]) and count[0] == 0
    np.testing.assert_array_equal(lo[1:], [3, 3, 1, 1])
    np.testing.assert_array_equal(hi[1:], [3, 3, 3, 5])
    np.testing.assert_array_equal(count, [0, 1, 1, 2, 3])


def test_a_spike_beyond_the_range_seen_scores_high_and_values_inside_score_zero() -> None:
    x = sine(1000)
    x[800] = 13.0  # range so far ~[9, 11]: 1 beyond it is 50 % of the width
    score = range_novelty(x, RangeConfig(tolerance=0.05, min_rows=100))
    assert score[800] > 0.99
    assert (score[:800] < 0.5).all() and (score[801:] == 0).all()


def test_the_score_is_one_half_at_the_tolerance() -> None:
    x = np.r_[np.tile([0.0, 10.0], 100), 10.5]
    score = range_novelty(x, RangeConfig(tolerance=0.05, min_rows=100))
    assert score[-1] == np.float64(0.5) or abs(score[-1] - 0.5) < 1e-12
    assert (score[:-1] == 0).all()


def test_no_range_score_before_min_rows_or_on_a_flat_series() -> None:
    x = np.r_[np.ones(50), 100.0]
    assert (range_novelty(x, RangeConfig(min_rows=100)) == 0).all()
    flat = np.r_[np.ones(500), 2.0]
    assert (range_novelty(flat, RangeConfig(min_rows=100)) == 0).all()


def test_rows_since_record_counts_from_the_last_new_minimum_or_maximum_before_each_row() -> None:
    gaps = rows_since_record(np.array([1.0, 2.0, 2.0, np.nan, 1.5, 3.0, 0.0, 0.5]))
    np.testing.assert_array_equal(gaps, [np.inf, 1, 1, 2, 3, 4, 1, 1])


def test_a_series_still_extending_its_range_is_damped_and_a_breach_after_a_settled_stretch_is_not() -> None:
    growth = 1.05 ** np.arange(300)  # every row a new maximum, 5 % beyond the one before
    eager = range_novelty(growth, RangeConfig(settle_rows=0))
    settled = range_novelty(growth, RangeConfig(settle_rows=5))
    assert eager[150:].min() > 0.9 and settled[150:].max() < 0.2
    x = sine(1000)
    x[800] = 13.0
    assert range_novelty(x, RangeConfig(settle_rows=5))[800] > 0.99


def test_bins_use_the_learned_range_and_put_outliers_in_edge_bins() -> None:
    config = PatternConfig(levels=4, learn_rows=3)
    bins = learned_bins(np.array([0.0, 4.0, 2.0, 3.9, -1.0, 9.0, np.nan]), config)
    # row 0: no width yet -> middle; range [0, 4] from row 1 on; 5 = above, 0 = below, -1 = missing
    np.testing.assert_array_equal(bins, [3, 4, 3, 4, 0, 5, -1])


def test_pattern_codes_and_first_occurrences() -> None:
    bins = np.array([1, 2, 1, 2, 1, 3, -1, 1])
    codes = pattern_codes(bins, levels=2, length=2)
    assert codes[0] == -1 and codes[6] == -1 and codes[7] == -1
    assert codes[2] == codes[4] and codes[1] == codes[3] and codes[5] not in (codes[1], codes[2])
    np.testing.assert_array_equal(first_occurrences(codes), [0, 1, 1, 0, 0, 1, 0, 0])


def test_a_new_pattern_after_a_long_repetition_scores_high() -> None:
    x = sine(3000, noise=0.0)
    x[2500:2510] = 10.0  # flat at mid-level where the series always crossed quickly: a new shape
    score = pattern_novelty(x, PatternConfig(levels=6, length=3, rate_window=2000, power=16.0))
    assert score[2500:2512].max() > 0.9
    assert score[1000:2500].max() < 0.1


def test_a_repeating_series_has_no_pattern_novelty_once_learned() -> None:
    score = pattern_novelty(sine(3000, noise=0.0))
    assert score[500:].max() == 0.0


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    rows=st.integers(0, 1500),
    cut=st.floats(0, 1),
    scale=st.sampled_from([1e-9, 1.0, 1e12]),
)
def test_both_scores_are_causal_and_bounded_on_hostile_series(seed: int, rows: int, cut: float, scale: float) -> None:
    rng = np.random.default_rng(seed)
    x = np.cumsum(rng.standard_t(1.5, rows)) * scale
    x[rng.random(rows) < 0.05] = np.nan
    x[rng.random(rows) < 0.02] = np.inf
    x = np.where(np.isfinite(x), x, np.nan)
    k = int(cut * rows)
    for detector in (range_novelty, pattern_novelty):
        full = detector(x)
        assert full.shape == x.shape and np.isfinite(full).all() and ((full >= 0) & (full <= 1)).all()
        np.testing.assert_array_equal(detector(x[:k]), full[:k])
