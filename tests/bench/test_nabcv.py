"""Leave-one-category-out selection of detector settings on hand-made corpora."""

from __future__ import annotations

import numpy as np
import pytest

from bench import nabcv
from bench import nabscore as ns
from tests.bench.test_nabscore import make_file

SPIKE = 420  # inside every file's window (400, 499), past the probation


def scores_for(f: ns.LabelledFile, spike: float, noise: float) -> np.ndarray:
    s = np.full(f.rows, noise)
    s[SPIKE] = spike
    return s


FILES = [make_file(f"{c}/f{i}.csv") for c in ("x", "y") for i in range(2)]
# "calibrated": a spike scores 0.9 and the rest 0.1 in every category;
# "drifting": the same in category x, but spikes only reach 0.4 in category y.
CALIBRATED = {f.name: scores_for(f, 0.9, 0.1) for f in FILES}
DRIFTING = {f.name: scores_for(f, 0.9, 0.2) if f.name.startswith("x/") else scores_for(f, 0.4, 0.1) for f in FILES}


def test_the_margin_threshold_is_the_middle_of_the_equivalent_interval() -> None:
    thresholds = np.array([1.9, 0.9, 0.4, 0.1])
    assert nabcv.margin_threshold(thresholds, 1) == pytest.approx(0.65)
    assert nabcv.margin_threshold(thresholds, 3) == pytest.approx(0.05)


def test_calibrated_scores_score_the_same_in_sample_and_out_of_fold() -> None:
    result = nabcv.cross_validate(FILES, {"calibrated": CALIBRATED}, ns.STANDARD)
    assert result.in_sample.normalized > 98.0  # every spike, a fifth into its window, and nothing else
    assert result.out_of_fold == pytest.approx(result.in_sample.normalized)
    assert [f.held_out for f in result.folds] == ["x", "y"]


def test_a_threshold_that_does_not_carry_to_another_category_shows_out_of_fold_only() -> None:
    result = nabcv.cross_validate(FILES, {"drifting": DRIFTING}, ns.STANDARD)
    assert result.in_sample.normalized > 98.0  # 0.3 separates every spike from all noise
    assert result.out_of_fold < 60.0  # the threshold learnt on x (0.55) misses every spike of y
    assert result.gap > 40.0


def test_selection_prefers_the_setting_that_carries_across_categories_over_the_first_listed() -> None:
    outputs = {"drifting": DRIFTING, "calibrated": CALIBRATED}
    assert nabcv.choose(FILES, outputs, ns.STANDARD).candidate == "drifting"  # a tie in-sample: the first wins
    assert nabcv.select(FILES, outputs, ns.STANDARD).candidate == "calibrated"
