"""Evaluating fitted baselines on recent points: bands, deviations and confirmed level shifts, for a fleet at once.

All series are laid end to end and every step is an array operation over all
points (profile look-ups through per-series offsets, windowed counts with
cumulative sums), so the cost grows with points, not with a Python loop per
series or per point.

**Level shifts.** A series whose last ``shift_points`` points lie mostly
(two thirds) beyond the band on one side, with their median beyond it too,
has shifted: from the point that confirms it, the
baseline's level moves by the median deviation of those points (the series
is *re-baselined*) and later points are judged against the new level. The
points before confirmation still count as anomalous, so a shift alerts once
and then stops. The re-baselined baseline is returned for the caller to save
as a new version.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ops.baselines.model import Baseline, slot_position
from ops.baselines.robust import nanmedian_rows
from ops.metrics.models import Series, from_ns


@dataclass(frozen=True)
class BandCheck:
    """One series judged against its baseline: arrays per point, in the scored unit (rates for counters)."""

    baseline: Baseline
    seconds: np.ndarray
    values: np.ndarray
    expected: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    shifted: Baseline | None  # the re-baselined version, when a level shift was confirmed

    @property
    def deviation(self) -> np.ndarray:
        deviation: np.ndarray = self.values - self.expected
        return deviation

    def outside(self, direction: str = "both", min_deviation: float = 0.0) -> np.ndarray:
        """Points beyond the band in ``direction`` (above, below, both) by at least ``min_deviation``."""
        big = np.abs(self.deviation) >= min_deviation
        above: np.ndarray = (self.values > self.upper) & big
        below: np.ndarray = (self.values < self.lower) & big
        either: np.ndarray = above | below
        return {"above": above, "below": below}.get(direction, either)


@dataclass(frozen=True)
class _Flat:
    row: np.ndarray
    seconds: np.ndarray
    values: np.ndarray
    starts: np.ndarray


def _flatten(baselines: Sequence[Baseline], series: Sequence[Series]) -> _Flat:
    lengths = np.fromiter((len(s) for s in series), dtype=np.int64, count=len(series))
    row = np.repeat(np.arange(len(series)), lengths)
    starts = np.concatenate(([0], np.cumsum(lengths)))
    seconds = np.concatenate([s.timestamps for s in series] + [np.empty(0, np.int64)]) / 1e9
    values = np.concatenate([s.values for s in series] + [np.empty(0)])
    values = np.where(np.isfinite(values), values, np.nan)
    counter = np.fromiter((b.counter for b in baselines), dtype=bool, count=len(baselines))
    if counter.any():
        dv, dt = np.diff(values, prepend=np.nan), np.diff(seconds, prepend=np.nan)
        dv[starts[:-1][lengths > 0]] = np.nan  # no step across two series
        rate = np.full(len(values), np.nan)
        np.divide(dv, dt, out=rate, where=(dt > 0) & (dv >= 0))
        values = np.where(counter[row], rate, values)
    return _Flat(row, seconds, values, starts)


def expected_many(baselines: Sequence[Baseline], row: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """Each point's expected value under its series' baseline (``row`` indexes ``baselines``)."""
    spans = np.fromiter((len(b.profile) for b in baselines), dtype=np.int64, count=len(baselines))
    offsets = np.concatenate(([0], np.cumsum(spans)[:-1]))
    profiles = np.concatenate([np.asarray(b.profile, dtype=float) for b in baselines] + [np.empty(0)])
    level = np.fromiter((b.level for b in baselines), dtype=float, count=len(baselines))
    slot = np.fromiter((b.slot_seconds for b in baselines), dtype=float, count=len(baselines))
    smooth = np.fromiter((b.smooth for b in baselines), dtype=bool, count=len(baselines))
    k, frac = slot_position(seconds, slot[row], smooth[row])
    span = spans[row]
    base = offsets[row]
    expected: np.ndarray = level[row] + (1 - frac) * profiles[base + k % span] + frac * profiles[base + (k + 1) % span]
    return expected


def check_bands(
    baselines: Sequence[Baseline], series: Sequence[Series], z: float, shift_points: int = 12
) -> list[BandCheck]:
    """Judge ``series[i]`` against ``baselines[i]`` with a band of ``z`` robust sigmas."""
    if len(baselines) != len(series):
        raise ValueError("one baseline per series")
    if not series:
        return []
    flat = _flatten(baselines, series)
    expected = expected_many(baselines, flat.row, flat.seconds)
    scale = np.fromiter((b.scale for b in baselines), dtype=float, count=len(baselines))[flat.row]
    shifted = _confirm_shifts(flat, expected, z * scale, shift_points)
    for r, (at, delta) in shifted.items():
        expected[at + 1 : flat.starts[r + 1]] += delta
    out = []
    for r, b in enumerate(baselines):
        lo, hi = flat.starts[r], flat.starts[r + 1]
        new = None
        if r in shifted:
            at, delta = shifted[r]
            new = b.shifted(delta, _when(flat.seconds[at]))
        e, width = expected[lo:hi], z * b.scale
        out.append(BandCheck(b, flat.seconds[lo:hi], flat.values[lo:hi], e, e - width, e + width, new))
    return out


def _when(seconds: float) -> datetime:
    return from_ns(round(seconds * 1e9))


def _confirm_shifts(flat: _Flat, expected: np.ndarray, width: np.ndarray, window: int) -> dict[int, tuple[int, float]]:
    """Per shifted row: the index of the point that confirms the shift and the level change.

    A shift is confirmed at the first point whose trailing ``window`` points
    (of the same series) are at least two thirds beyond the band on one side,
    with their median deviation beyond it too.
    """
    deviation = flat.values - expected
    shifts: dict[int, tuple[int, float]] = {}
    index = np.arange(len(deviation))
    far = np.isfinite(deviation) & (np.abs(deviation) > width)
    back = index - window + 1
    same_row = (back >= 0) & (flat.row[np.maximum(back, 0)] == flat.row)
    for side in (1.0, -1.0):
        beyond = far & (np.sign(deviation) == side)
        total = np.concatenate(([0], np.cumsum(beyond)))
        run = np.where(same_row, total[index + 1] - total[np.maximum(back, 0)], 0)
        candidates = np.flatnonzero(3 * run >= 2 * window)
        if not len(candidates):
            continue
        windows = sliding_window_view(deviation, window)[candidates - window + 1]
        middle = nanmedian_rows(windows)
        confirmed = candidates[side * middle > width[candidates]]
        rows, first = np.unique(flat.row[confirmed], return_index=True)
        for r, at in zip(rows.tolist(), confirmed[first].tolist(), strict=True):
            if r not in shifts or at < shifts[r][0]:
                shifts[r] = (at, float(middle[np.searchsorted(candidates, at)]))
    return shifts
