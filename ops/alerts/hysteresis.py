"""Trigger and recovery windows, and the latch between them that keeps alerts from flapping.

At each evaluation instant ``t`` two shares are computed from the points in
trailing windows ``(t - w, t]``: the share of anomalous points over the
trigger window and over the recovery window. The alert **fires** when the
trigger share reaches the trigger fraction (with at least ``min_points``
points), and **resolves** only when the recovery share has fallen to the
recovery fraction or below, which rules require to be lower. Between the two
it keeps its state: a series hovering at the threshold, anomalous one point
in two, fires once and stays firing instead of toggling on every point.

Shares come from cumulative sums and binary searches over the points' times:
no loop over points.
"""

from __future__ import annotations

import numpy as np

from ops.alerts.rules import Rule, Window


def window_shares(
    seconds: np.ndarray, anomalous: np.ndarray, at: np.ndarray, window: Window
) -> tuple[np.ndarray, np.ndarray]:
    """Share of anomalous points and the number of points in ``(t - window, t]`` for each ``t`` in ``at``."""
    width = window.window.total_seconds()
    hi = np.searchsorted(seconds, at, side="right")
    lo = np.searchsorted(seconds, at - width, side="right")
    total = np.concatenate(([0], np.cumsum(anomalous)))
    count = hi - lo
    share = np.zeros(len(at))
    np.divide(total[hi] - total[lo], count, out=share, where=count > 0)
    return share, count


def latch(seconds: np.ndarray, anomalous: np.ndarray, rule: Rule, at: float, initial: bool = False) -> np.ndarray:
    """The alert's state (True = firing) after each point and, last, at the instant ``at``."""
    times = np.append(seconds, at)
    fire_share, fire_count = window_shares(seconds, anomalous, times, rule.trigger)
    calm_share, calm_count = window_shares(seconds, anomalous, times, rule.recovery)
    fire = (fire_count >= rule.trigger.min_points) & (fire_share >= rule.trigger.fraction) & (fire_share > 0)
    calm = (calm_count >= rule.recovery.min_points) & (calm_share <= rule.recovery.fraction) & ~fire
    marks = np.where(fire, 1.0, np.where(calm, 0.0, np.nan))
    state = np.concatenate(([1.0 if initial else 0.0], marks))
    filled = np.maximum.accumulate(np.where(np.isnan(state), 0, np.arange(len(state))))
    firing: np.ndarray = state[filled][1:] == 1.0
    return firing


def trigger_share(seconds: np.ndarray, anomalous: np.ndarray, rule: Rule, at: float) -> tuple[float, int]:
    share, count = window_shares(seconds, anomalous, np.array([at]), rule.trigger)
    return float(share[0]), int(count[0])
