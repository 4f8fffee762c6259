"""The ensemble score of ``ops baseline score``: what each part adds, how they combine, and causality."""

from __future__ import annotations

import numpy as np

from ops.baselines.detector import DetectorConfig, detect
from ops.baselines.ensemble import EnsembleConfig, combine, score_ensemble, score_parts
from tests.ops.baselines.synthetic import daily, timestamps


def noisy(rows: int, seed: int) -> np.ndarray:
    return 50 + np.random.default_rng(seed).normal(0, 1, rows)


def test_a_spike_scores_highest_where_it_happens() -> None:
    x = noisy(3000, 1)
    x[2200] += 15
    score = score_ensemble(timestamps(3000), x)
    assert int(np.argmax(score)) == 2200 and score[2200] > 0.9


def test_a_level_shift_alerts_at_its_start_then_is_learned() -> None:
    x = noisy(3000, 2)
    x[2000:] += 12
    score = score_ensemble(timestamps(3000), x)
    assert score[2000] > 0.9 and score[1000:2000].max() < 0.6
    assert score_parts(timestamps(3000), x).robust.score[2300:].max() < 0.5  # the new level is the baseline
    # the range part still fires where the noise sets a new record beyond the tolerance: rarely
    assert (score[2300:] >= 0.6).sum() <= 1


def test_a_new_pattern_inside_the_usual_range_is_caught_by_the_pattern_part() -> None:
    cycle = 10 + np.sin(2 * np.pi * np.arange(24) / 24)
    x = np.resize(cycle, 4000)
    x[3000:3030] = 10.0  # stays at the middle, which the cycle always crosses fast: values seen, shape not
    config = EnsembleConfig(pattern_weight=0.65)
    parts = score_parts(timestamps(4000), x, config)
    assert parts.pattern[3000:3035].max() > 0.9 and parts.pattern[1000:3000].max() == 0.0
    assert parts.range[3000:3035].max() == 0.0  # no value left the range
    assert score_ensemble(timestamps(4000), x, config)[3000:3035].max() >= 0.6


def test_combine_takes_the_weighted_maximum_then_suppresses() -> None:
    robust = np.array([0.2, 0.9, 0.1, 0.95, 0.1])
    ranged = np.array([0.0, 0.0, 0.7, 0.0, 0.0])
    patterned = np.array([1.0, 0.0, 0.0, 0.0, 0.0])
    config = EnsembleConfig(robust_weight=0.8, pattern_weight=0.5, suppress_rows=2, suppress_factor=0.5)
    out = combine(robust, ranged, patterned, config)
    np.testing.assert_allclose(out, [0.5, 0.72, 0.35, 0.38, 0.04])


def test_with_the_other_parts_off_it_is_the_robust_detector() -> None:
    ts, x = daily(days=6, seed=4)
    config = EnsembleConfig(
        DetectorConfig(), robust_weight=1.0, range_weight=0.0, pattern_weight=0.0, suppress_rows=100
    )
    np.testing.assert_array_equal(score_ensemble(ts, x, config), detect(ts, x, DetectorConfig()).score)


def test_scoring_a_prefix_gives_the_prefix_of_the_scores() -> None:
    ts, x = daily(days=8, seed=5)
    rng = np.random.default_rng(6)
    x[rng.choice(len(x), 15, replace=False)] += 30
    x[rng.choice(len(x), 20, replace=False)] = np.nan
    config = EnsembleConfig(pattern_weight=0.65)
    full = score_ensemble(ts, x, config)
    assert ((full >= 0) & (full <= 1)).all()
    for cut in (0, 1, 99, 100, 101, 749, 750, 751, 1999, 2000, *rng.integers(2, len(x), 6).tolist()):
        np.testing.assert_array_equal(score_ensemble(ts[:cut], x[:cut], config), full[:cut])
