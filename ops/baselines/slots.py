"""Many series on one slot grid: the shape every baseline fit works on.

A fit does not look at raw points one by one. Each series is cut into time
slots (an hour by default, or the series' own step when that is coarser), and
each slot is summarised by the **median** of its points, so a spike that lasts
less than half a slot cannot move the summary. All series of a fit share one
axis of absolute slot numbers ``k = floor(t / slot)``, so slot ``k`` has the
same time-of-day and day-of-week in every series and a seasonal phase is just
``k mod period``. The result is a matrix, one row per series and NaN where a
series had no point, on which seasonal profiles are medians along an axis.

Medians of many groups at once are computed with one sort of all points by
(group, value), not with a loop over groups.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ops.baselines.robust import nanmedian_rows


@dataclass(frozen=True)
class Points:
    """The points of many series laid end to end: ``row[i]`` says which series point ``i`` belongs to."""

    row: np.ndarray
    seconds: np.ndarray
    values: np.ndarray

    @classmethod
    def concat(cls, seconds: Sequence[np.ndarray], values: Sequence[np.ndarray]) -> Points:
        lengths = np.fromiter((len(v) for v in values), dtype=np.int64, count=len(values))
        row = np.repeat(np.arange(len(values)), lengths)
        empty = np.empty(0)
        return cls(row, np.concatenate([*seconds, empty]).astype(float), np.concatenate([*values, empty]).astype(float))


@dataclass(frozen=True)
class SlotGrid:
    """Slot medians of ``rows`` series over slots ``first .. first + width - 1``.

    ``matrix[r, j]`` is the median of series ``r``'s finite values in slot
    ``first + j`` (NaN when it had none); ``counts`` holds how many there were.
    """

    slot: float
    first: int
    matrix: np.ndarray
    counts: np.ndarray

    @property
    def rows(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def width(self) -> int:
        return int(self.matrix.shape[1])

    def phase(self, period_slots: int) -> np.ndarray:
        """The phase (``k mod period``) of every column."""
        return (self.first + np.arange(self.width)) % period_slots

    def head(self, width: int) -> SlotGrid:
        """The first ``width`` columns (a training window for a backtest)."""
        return SlotGrid(self.slot, self.first, self.matrix[:, :width], self.counts[:, :width])


def dense_groups(group: np.ndarray, values: np.ndarray, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """The finite ``values`` of each group as the rows of a NaN-padded matrix, and how many each has.

    Groups are ordered with a stable integer sort (a no-op for points laid end
    to end in time order), so each row keeps its points in their original order.
    """
    keep = np.isfinite(values)
    group, values = group[keep], values[keep]
    if len(group) and np.any(np.diff(group) < 0):
        order = np.argsort(group, kind="stable")
        group, values = group[order], values[order]
    counts = np.bincount(group, minlength=groups)
    start = np.concatenate(([0], np.cumsum(counts)[:-1]))
    dense = np.full((groups, int(counts.max(initial=0))), np.nan)
    dense[group, np.arange(len(group)) - start[group]] = values
    return dense, counts


def group_medians(group: np.ndarray, values: np.ndarray, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Median and count of the finite ``values`` of each group ``0 .. groups - 1`` (NaN for an empty group)."""
    counts = np.bincount(group[np.isfinite(values)], minlength=groups)
    if groups * int(counts.max(initial=0)) > 4 * len(values) + 1_000_000:  # very uneven groups: sort instead
        return _sorted_medians(group, values, groups), counts
    dense, counts = dense_groups(group, values, groups)
    if dense.shape[1] == 0:
        return np.full(groups, np.nan), counts
    return nanmedian_rows(dense, counts), counts


def _sorted_medians(group: np.ndarray, values: np.ndarray, groups: int) -> np.ndarray:
    """Group medians by one sort of every finite value by (group, value)."""
    keep = np.isfinite(values)
    group, values = group[keep], values[keep]
    order = np.lexsort((values, group))
    group, values = group[order], values[order]
    counts = np.bincount(group, minlength=groups)
    start = np.concatenate(([0], np.cumsum(counts)[:-1]))
    medians = np.full(groups, np.nan)
    full = counts > 0
    lo = start[full] + (counts[full] - 1) // 2
    hi = start[full] + counts[full] // 2
    medians[full] = 0.5 * (values[lo] + values[hi])
    return medians


def slot_grid(points: Points, rows: int, slot: float) -> SlotGrid:
    """Slot medians of every series; the grid spans the slots from the first to the last point of any series."""
    k = np.floor(points.seconds / slot).astype(np.int64)
    if not len(k):
        return SlotGrid(slot, 0, np.full((rows, 0), np.nan), np.zeros((rows, 0), dtype=np.int64))
    first = int(k.min())
    width = int(k.max()) - first + 1
    medians, counts = group_medians(points.row * width + (k - first), points.values, rows * width)
    return SlotGrid(slot, first, medians.reshape(rows, width), counts.reshape(rows, width))


def by_cycle(matrix: np.ndarray, first: int, period: int) -> np.ndarray:
    """``matrix`` (rows, width) reshaped to (rows, cycles, period), column ``j`` at phase ``(first + j) mod period``.

    Slots before the grid's first column and after its last are padded with NaN.
    """
    rows, width = matrix.shape
    lead = first % period
    cycles = -(-(lead + width) // period)
    padded = np.full((rows, cycles * period), np.nan)
    padded[:, lead : lead + width] = matrix
    return padded.reshape(rows, cycles, period)


def running_median3(profile: np.ndarray) -> np.ndarray:
    """Circular running median of width 3 along the last axis (keeps steps, removes one-slot spikes)."""
    left = np.roll(profile, 1, axis=-1)
    right = np.roll(profile, -1, axis=-1)
    stacked = np.stack([left, profile, right])
    median: np.ndarray
    if not np.isnan(stacked).any():
        median = np.median(stacked, axis=0)
        return median
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices give NaN
        median = np.nanmedian(stacked, axis=0)
    return median
