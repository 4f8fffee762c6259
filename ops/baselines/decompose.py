"""Robust seasonal decomposition of many series at once.

A series on the slot grid (:mod:`.slots`) is split, in MSTL's order, into

    y[k] = trend[k] + S_daily[k mod 24] + S_weekly[k mod 168] + remainder[k]

(periods in slots; with hourly slots a day is 24 and a week 168):

1. **Trend**: a centred rolling median of ``y`` over the longest period (one
   ``level_slots`` window when there is no season), which averages a whole
   cycle away and ignores short anomalies.
2. **Seasonal components**, shortest period first: the median over cycles of
   the detrended values at each phase, with the previous components removed.
   With fewer than three cycles a median across cycles cannot outvote an
   anomaly, so the component is then also smoothed with a circular running
   median of three slots (a level step survives, a one-slot spike does not).
   Each component is centred on a median of 0.
3. **Level**: the median of the deseasonalised values over the last
   ``level_slots`` slots, so a level shift older than half that window is the
   new level.

Every step is a median (of slots, of cycles, of a window), so an anomaly in
the training window moves the baseline by at most one rank; the band's width
comes from the MAD of the remainder (:mod:`.fit`). The work is array
operations over a (series, slots) matrix: no loop over points or series.

``method="stl"`` computes the seasonal components with statsmodels' STL/MSTL
instead (a loop over series, and much slower: see ``bench/baselines.py``),
then summarises them per phase the same way.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from ops.baselines.slots import SlotGrid, by_cycle, running_median3

Method = Literal["median", "stl"]


@dataclass(frozen=True)
class Components:
    """The decomposition of every row: a seasonal profile over the longest period, a trend and a level."""

    periods: tuple[int, ...]
    profile: np.ndarray  # (rows, span): the sum of the seasonal components over one longest period
    trend: np.ndarray  # (rows, width)
    level: np.ndarray  # (rows,)

    @property
    def span(self) -> int:
        return int(self.profile.shape[1])

    def seasonal(self, grid: SlotGrid) -> np.ndarray:
        """The seasonal value of every cell of ``grid`` (rows, width)."""
        return self.profile[:, grid.phase(self.span)]

    def forecast(self, grid: SlotGrid, columns: np.ndarray) -> np.ndarray:
        """Level plus season at the given absolute slot numbers, for every row: (rows, len(columns))."""
        forecast: np.ndarray = self.level[:, None] + self.profile[:, columns % self.span]
        return forecast


def nanmedian(a: np.ndarray, axis: int) -> np.ndarray:
    """``np.nanmedian`` without the warning for all-NaN slices (they give NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        median: np.ndarray = np.nanmedian(a, axis=axis)
    return median


def rolling_median(matrix: np.ndarray, window: int) -> np.ndarray:
    """Centred rolling median along each row over the values present; the edges hold the nearest full window.

    A window cut short at either end would follow the part of the cycle it
    still sees (the weekend, at the end of a history that ends on a Sunday)
    and take the season for trend, so the first and last half-windows take the
    value of the first and last complete window. A history shorter than one
    window gets its overall median.
    """
    width = matrix.shape[1]
    if width == 0:
        return matrix.copy()
    if width <= window:
        return np.repeat(nanmedian(matrix, axis=1)[:, None], width, axis=1)
    frame = pd.DataFrame(matrix.T)
    out = frame.rolling(window, center=True, min_periods=1).median().to_numpy().T.copy()
    before = window // 2  # a centred window spans [c - before, c + window - 1 - before]
    after = window - 1 - before
    out[:, :before] = out[:, [before]]
    out[:, width - after :] = out[:, [width - 1 - after]]
    return out


def seasonal_component(remainder: np.ndarray, first: int, period: int) -> np.ndarray:
    """Median over cycles at each phase, smoothed when cycles are few, centred on 0: (rows, period)."""
    cycles = by_cycle(remainder, first, period)
    component = nanmedian(cycles, axis=1)
    seen = np.isfinite(cycles).sum(axis=1)
    few = (seen < 3).any(axis=1)
    if few.any():
        component[few] = running_median3(component[few])
    component -= nanmedian(component, axis=1)[:, None]
    centred: np.ndarray = np.nan_to_num(component, nan=0.0)
    return centred


def decompose(grid: SlotGrid, periods: tuple[int, ...], level_slots: int, method: Method = "median") -> Components:
    """Trend, seasonal profile and level of every row of ``grid`` with the given periods (in slots)."""
    span = max(periods, default=1)
    y = grid.matrix
    trend = rolling_median(y, span if periods else level_slots)
    if method == "stl" and periods:
        components = _stl_components(grid, periods)
    else:
        components = []
        remainder = y - trend
        for period in sorted(periods):
            component = seasonal_component(remainder, grid.first, period)
            remainder = remainder - component[:, grid.phase(period)]
            components.append(component)
    profile = np.zeros((grid.rows, span))
    for component in components:
        profile += np.tile(component, (1, span // component.shape[1]))
    deseasoned = y - profile[:, grid.phase(span)]
    level = nanmedian(deseasoned[:, -level_slots:], axis=1)
    stale = ~np.isfinite(level)  # nothing in the last window: fall back on the whole history
    if stale.any():
        level[stale] = nanmedian(deseasoned[stale], axis=1)
    return Components(tuple(sorted(periods)), profile, trend, level)


def _stl_components(grid: SlotGrid, periods: tuple[int, ...]) -> list[np.ndarray]:
    """Per-phase medians of statsmodels' STL/MSTL seasonal components, one row at a time."""
    from statsmodels.tsa.seasonal import MSTL, STL

    out = [np.zeros((grid.rows, p)) for p in sorted(periods)]
    for r in range(grid.rows):
        y = pd.Series(grid.matrix[r]).interpolate(limit_direction="both").to_numpy()
        if not np.isfinite(y).all():
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if len(periods) == 1:
                seasonal = STL(y, period=periods[0], robust=True).fit().seasonal[:, None]
            else:
                seasonal = np.asarray(MSTL(y, periods=sorted(periods)).fit().seasonal).reshape(len(y), -1)
        for i, period in enumerate(sorted(periods)):
            if i < seasonal.shape[1]:
                out[i][r] = seasonal_component(seasonal[None, :, i], grid.first, period)[0]
    return out
