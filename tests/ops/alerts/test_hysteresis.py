"""Trigger and recovery windows: alerts fire on sustained trouble and do not flap."""

from __future__ import annotations

import numpy as np

from ops.alerts.hysteresis import latch, window_shares
from tests.ops.alerts.factories import rule


def states(flags: list[bool] | np.ndarray, **overrides: object) -> np.ndarray:
    flags = np.asarray(flags, dtype=bool)
    seconds = np.arange(len(flags)) * 300.0
    return latch(seconds, flags, rule(**overrides), at=seconds[-1])[:-1]


def test_shares_count_points_in_the_trailing_window() -> None:
    seconds = np.arange(6) * 300.0
    flags = np.array([0, 1, 1, 0, 0, 1], dtype=bool)
    share, count = window_shares(seconds, flags, seconds, rule().trigger)  # 15 minutes: three points
    assert count.tolist() == [1, 2, 3, 3, 3, 3]
    np.testing.assert_allclose(share, [0, 1 / 2, 2 / 3, 2 / 3, 1 / 3, 1 / 3])


def test_a_single_anomalous_point_does_not_fire_a_half_window_rule() -> None:
    flags = np.zeros(30, dtype=bool)
    flags[10] = True
    assert not states(flags).any()


def test_sustained_trouble_fires_and_recovery_resolves_after_the_window() -> None:
    flags = np.r_[np.zeros(10), np.ones(10), np.zeros(10)].astype(bool)
    s = states(flags)
    assert not s[:11].any()  # the 2nd anomalous point makes 2 of 3
    assert s[11:22].all()
    assert not s[23:].any()  # three clean points: a clean 15-minute window


def test_a_series_hovering_at_the_threshold_fires_once_and_does_not_flap() -> None:
    rng = np.random.default_rng(0)
    flags = rng.random(400) < 0.5  # anomalous about one point in two, for hours
    hysteresis = states(flags, recovery={"window": "1h", "fraction": 0.1})
    naive = states(flags, trigger={"window": "5m", "fraction": 1.0}, recovery={"window": "5m", "fraction": 0.0})
    assert np.count_nonzero(np.diff(naive.astype(int))) > 100  # a plain threshold toggles all the time
    assert np.count_nonzero(np.diff(hysteresis.astype(int))) <= 4
    assert hysteresis[5:].mean() > 0.95


def test_recovery_needs_the_lower_fraction_not_just_fewer_anomalies() -> None:
    flags = np.r_[np.ones(6), np.tile([True, False, False], 20)].astype(bool)  # one in three
    s = states(flags, recovery={"window": "30m", "fraction": 0.1})
    assert s[5:].all()  # a third of points anomalous: too many to resolve, too few to fire again


def test_an_empty_window_keeps_the_state() -> None:
    seconds = np.r_[np.arange(6) * 300.0, 100_000.0]
    flags = np.r_[np.ones(6), np.ones(1)].astype(bool)
    out = latch(seconds, flags, rule(), at=200_000.0)
    assert out[-1]  # no points in the windows ending at `at`: still firing
