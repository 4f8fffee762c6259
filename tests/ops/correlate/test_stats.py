"""The vectorised statistics on hand-made rows."""

from __future__ import annotations

import numpy as np
import pytest

from ops.correlate.stats import (
    change_points,
    lagged_correlation,
    masked_median,
    onsets,
    robust_shifts,
)


def test_masked_median_per_row():
    x = np.array([[1.0, 5.0, 3.0, 100.0], [2.0, 4.0, 6.0, 8.0]])
    mask = np.array([[True, True, True, False], [False, False, False, False]])

    out = masked_median(x, mask)

    assert out[0] == 3.0 and np.isnan(out[1])


def test_change_points_find_each_rows_step_and_its_sign():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (3, 200))
    x[0, 120:] += 5
    x[1, 40:] -= 5

    split, r = change_points(x, 10)

    assert abs(split[0] - 120) <= 1 and r[0] > 0.8
    assert abs(split[1] - 40) <= 1 and r[1] < -0.8
    assert abs(r[2]) < 0.4


def test_a_flat_quantised_series_is_measured_in_its_own_steps():
    x = np.full((1, 100), 8_040_448.0)
    x[0, ::7] += 4096  # pages now and then: MAD 0, quantum one page
    x[0, 60:] += 40 * 4096

    shifts = robust_shifts(x, np.array([60]))

    assert shifts.scale[0] == 4096 and shifts.z[0] == pytest.approx(40)


def test_a_series_flat_through_its_baseline_is_measured_in_its_smallest_step():
    x = np.full((1, 100), 431_562_752.0)
    x[0, 60:] += 8192

    assert robust_shifts(x, np.array([60])).z[0] == pytest.approx(1)


def test_lagged_correlation_says_which_moves_first():
    rng = np.random.default_rng(1)
    driver = rng.normal(0, 1, 500)
    follower = np.roll(driver, 4)

    r, lag = lagged_correlation(np.vstack((driver, -driver)), follower, 20)

    assert lag.tolist() == [4, 4] and r[0] > 0.95 and r[1] < -0.95


def test_the_onset_of_a_ramp_is_where_it_leaves_the_baseline_not_the_middle_of_the_ramp():
    rng = np.random.default_rng(7)
    row = 100 + rng.normal(0, 1, 200)
    row[120:] += np.arange(80) * 2.0  # a leak from row 120 on
    x = row[None, :]
    split, _ = change_points(x, 10)
    shifts = robust_shifts(x, np.minimum(split, 120))

    onset = onsets(x, shifts, split)

    assert split[0] > 140 and 120 <= onset[0] <= 125


def test_missing_cells_are_left_out_of_the_shift():
    row = np.array([[np.nan, 5.0, np.nan, 5.2, 4.8, np.nan, 9.0, 9.2, np.nan, 8.8]])

    shifts = robust_shifts(row, np.array([6]))

    assert shifts.baseline[0] == pytest.approx(5.0)
    assert shifts.level[0] == pytest.approx(9.0)
    assert shifts.z[0] > 5
