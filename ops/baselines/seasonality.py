"""Seasonal baselines and the causal choice between them.

Three candidate one-step forecasts are built for every row, each from past
rows only:

* **none**: the median of the last ``level_window`` values;
* **daily** / **weekly**: a seasonal profile plus a local level. The profile
  ``S[t]`` is the median of the values at the same phase in the previous
  ``cycles`` periods (the rows nearest ``t - k * period`` in *time*, so gaps and
  irregular sampling are handled), and the level is the median of
  ``x - S`` over the last ``level_window`` rows. The median across cycles
  ignores an anomaly in any one earlier cycle; the short level median
  re-baselines after a level shift within ``level_window / 2`` rows.

Which candidate a row uses is decided from the data seen so far: the mean
absolute forecast errors over the trailing ``selection_window`` rows (before
the row) are compared on the rows where both candidates had a forecast, and a
seasonal candidate wins only when it cuts the error of the current choice by
the factor ``selection_gain``. A daily or weekly season is therefore "detected"
exactly when forecasting with it has been measurably better on past data; with
too little history for a cycle, its forecast is undefined and it cannot win.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ops.baselines.robust import nanmedian_rows, trailing_mean, trailing_median

DAY = 86_400.0
WEEK = 7 * DAY


@dataclass(frozen=True)
class SeasonConfig:
    """Settings of the candidate forecasts and of the choice between them."""

    periods: tuple[float, ...] = (DAY, WEEK)
    cycles: int = 3
    phase_tolerance: float = 0.005
    level_window: int = 12
    selection_window: int = 1000
    selection_gain: float = 0.9
    min_selection_rows: int = 250


@dataclass(frozen=True)
class Baseline:
    """The chosen forecast per row and which candidate produced it (0 = none, i = ``periods[i-1]``)."""

    forecast: np.ndarray
    season: np.ndarray


def same_phase_rows(seconds: np.ndarray, offset: float, tolerance: float) -> np.ndarray:
    """Index of the row nearest ``seconds[t] - offset`` (within ``tolerance``), or -1.

    ``seconds`` must be non-decreasing; the row found always precedes ``t``
    when ``tolerance < offset``, and a target before the first row finds
    nothing. Regularly sampled series whose step divides the offset take a
    shortcut (``t - offset / step``) with the same result.
    """
    n = len(seconds)
    if n > 1:
        steps = np.diff(seconds)
        step = steps[0]
        lag = offset / step if step > 0 else 0.0
        if step > 0 and lag == round(lag) and np.all(steps == step):
            rows = np.arange(n) - int(lag)
            return np.where(rows >= 0, rows, -1)
    target = seconds - offset
    j = np.searchsorted(seconds, target)
    before = np.clip(j - 1, 0, n - 1)
    after = np.clip(j, 0, n - 1)
    nearest = np.where(np.abs(seconds[before] - target) <= np.abs(seconds[after] - target), before, after)
    ok = (np.abs(seconds[nearest] - target) <= tolerance) & (target >= seconds[0] - 1e-6)
    return np.where(ok, nearest, -1)


def seasonal_profile(
    seconds: np.ndarray, values: np.ndarray, period: float, cycles: int, tolerance: float
) -> np.ndarray:
    """Median of the values one, two, ... ``cycles`` periods earlier (NaN where none was recorded)."""
    stack = np.empty((len(values), cycles))
    for k in range(1, cycles + 1):
        rows = same_phase_rows(seconds, k * period, tolerance)
        stack[:, k - 1] = np.where(rows >= 0, values[np.maximum(rows, 0)], np.nan)
    return nanmedian_rows(stack)


def candidate_forecasts(seconds: np.ndarray, values: np.ndarray, config: SeasonConfig) -> list[np.ndarray]:
    """One-step forecasts of every candidate: level only, then one per seasonal period."""
    half = max(1, config.level_window // 2)
    plain = trailing_median(values, config.level_window, half)
    out = [plain]
    span = seconds[-1] - seconds[0] if len(seconds) else 0.0
    for period in config.periods:
        if span < period * (1 - config.phase_tolerance):
            out.append(np.full(len(values), np.nan))  # no row has a full cycle behind it
            continue
        profile = seasonal_profile(seconds, values, period, config.cycles, period * config.phase_tolerance)
        out.append(profile + trailing_median(values - profile, config.level_window, half))
    return out


def choose(values: np.ndarray, candidates: Sequence[np.ndarray], config: SeasonConfig) -> np.ndarray:
    """Per row, which candidate forecast to use (index into ``candidates``).

    Candidate 0 (no season) is the default. Candidate ``i`` replaces the
    current choice ``j`` where, over the trailing ``selection_window`` rows at
    which ``i`` had a forecast (at least ``min_selection_rows`` of them), its
    mean absolute error is below ``selection_gain`` times that of ``j`` on the
    same rows, and it has a forecast for the row itself. Comparing on the
    same rows keeps a candidate with a short history (a weekly profile after
    one week) from being judged on a different stretch of the series.
    """
    pick = np.zeros(len(values), dtype=np.int64)
    errors = [np.abs(values - f) for f in candidates]
    for i in range(1, len(candidates)):
        defined = np.isfinite(errors[i])
        mae_i, count = trailing_mean(errors[i], config.selection_window)
        wins = count >= config.min_selection_rows
        for j in range(i):
            mae_j, _ = trailing_mean(np.where(defined, errors[j], np.nan), config.selection_window)
            wins &= (pick != j) | (mae_i < config.selection_gain * mae_j)
        pick = np.where(wins & np.isfinite(candidates[i]), i, pick)
    return pick


def baseline(seconds: np.ndarray, values: np.ndarray, config: SeasonConfig = SeasonConfig()) -> Baseline:
    """The chosen one-step forecast for every row; see the module docstring."""
    candidates = candidate_forecasts(seconds, values, config)
    pick = choose(values, candidates, config)
    forecast = np.take_along_axis(np.vstack(candidates), pick[None, :], axis=0)[0]
    fallback = ~np.isfinite(forecast)
    forecast = np.where(fallback, candidates[0], forecast)
    return Baseline(forecast, np.where(fallback, 0, pick))
