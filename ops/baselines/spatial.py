"""Two complementary causal detectors: values beyond the range seen so far, and patterns never seen before.

Both score row ``t`` from rows ``0..t`` only, with array operations over the
whole series (running minima and maxima, cumulative counts, one ``np.unique``);
there is no Python loop over rows.

* **Range novelty** (:func:`range_novelty`). People label a value as anomalous
  when it leaves the range the series has covered so far. With ``lo`` and
  ``hi`` the minimum and maximum of the rows before ``t`` (at least
  ``min_rows`` of them), the excess ``max(x - hi, lo - x, 0)`` is measured in
  units of ``tolerance * (hi - lo)``: ``r = excess / (tolerance * width)``, and
  the score is ``r^a / (1 + r^a)`` (0.5 at the tolerance). A series that has
  not moved yet has no width and scores 0. While the series is still
  extending its range (a trend, the first rise of a cycle), every row is a
  new record; with ``settle_rows > 0`` the score is multiplied by
  ``1 - exp(-g / settle_rows)``, ``g`` the rows since the last row that set a
  new minimum or maximum, so a breach right after the previous record counts
  little and one after a settled stretch counts fully.
* **Pattern novelty** (:func:`pattern_novelty`). The values are cut into
  ``levels`` equal bins over the range of the first ``learn_rows`` rows (the
  range seen so far while fewer have arrived; values outside fall in one
  extra bin below and one above), and row ``t``'s *pattern* is the bins of
  rows ``t - length + 1 .. t``. A pattern that has never occurred before is a
  novelty. Early on almost every pattern is new, so a novelty counts in
  proportion to how rare novelties were over the previous ``rate_window``
  rows: ``score = novel * (1 - rate)^power``. A series that settles into a
  repertoire of shapes scores 0 until it does something it has not done.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ops.baselines.robust import shift, trailing_mean


@dataclass(frozen=True)
class RangeConfig:
    """Settings of :func:`range_novelty`."""

    tolerance: float = 0.02
    min_rows: int = 100
    sharpness: float = 4.0
    settle_rows: float = 5.0


@dataclass(frozen=True)
class PatternConfig:
    """Settings of :func:`pattern_novelty`."""

    levels: int = 10
    length: int = 3
    learn_rows: int = 750
    rate_window: int = 2000
    power: float = 16.0
    min_rows: int = 100


def running_range(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minimum, maximum and count of the finite values before each row (NaN bounds before the first)."""
    x = np.asarray(values, dtype=float)
    ok = np.isfinite(x)
    lo = shift(np.fmin.accumulate(np.where(ok, x, np.inf)) if len(x) else x, np.inf)
    hi = shift(np.fmax.accumulate(np.where(ok, x, -np.inf)) if len(x) else x, -np.inf)
    count = shift(np.cumsum(ok).astype(float), 0.0)
    lo[~np.isfinite(lo)] = np.nan
    hi[~np.isfinite(hi)] = np.nan
    return lo, hi, count


def rows_since_record(values: np.ndarray) -> np.ndarray:
    """Rows between each row and the last earlier row that set a new minimum or maximum (NaN rows never do)."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n == 0:
        return np.empty(0)
    ok = np.isfinite(x)
    hi = np.fmax.accumulate(np.where(ok, x, -np.inf))
    lo = np.fmin.accumulate(np.where(ok, x, np.inf))
    record = ok & np.r_[True, (hi[1:] > hi[:-1]) | (lo[1:] < lo[:-1])]
    last = np.maximum.accumulate(np.where(record, np.arange(n), -1))
    before = np.r_[-1, last[:-1]]  # the last record strictly before each row
    return np.where(before >= 0, np.arange(n) - before, np.inf).astype(float)


def range_novelty(values: np.ndarray, config: RangeConfig = RangeConfig()) -> np.ndarray:
    """Score in [0, 1] of how far each value lies beyond the range of the rows before it."""
    x = np.asarray(values, dtype=float)
    lo, hi, count = running_range(x)
    width = hi - lo
    with np.errstate(invalid="ignore"):
        excess = np.fmax(np.fmax(x - hi, lo - x), 0.0)
        usable = (count >= config.min_rows) & (width > 0) & np.isfinite(excess)
    ratio = np.zeros(len(x))
    np.divide(excess, config.tolerance * width, out=ratio, where=usable)
    with np.errstate(divide="ignore", over="ignore"):
        score = 1.0 / (1.0 + np.exp(-config.sharpness * np.log(ratio)))
    score = np.where(ratio > 0, score, 0.0)
    if config.settle_rows > 0:
        score = score * -np.expm1(-rows_since_record(x) / config.settle_rows)
    return score


def learned_bins(values: np.ndarray, config: PatternConfig) -> np.ndarray:
    """Bin of every value (``0 .. levels + 1``; ``-1`` for a missing one) over the learned range.

    Row ``t`` is binned on the range of rows ``0 .. min(t, learn_rows - 1)``:
    causal, and fixed once ``learn_rows`` rows have arrived.
    """
    x = np.asarray(values, dtype=float)
    ok = np.isfinite(x)
    lo = np.fmin.accumulate(np.where(ok, x, np.inf)) if len(x) else x
    hi = np.fmax.accumulate(np.where(ok, x, -np.inf)) if len(x) else x
    if len(x) > config.learn_rows > 0:
        lo[config.learn_rows :] = lo[config.learn_rows - 1]
        hi[config.learn_rows :] = hi[config.learn_rows - 1]
    width = hi - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        pos = np.where(width > 0, (x - lo) / width, 0.5)
    inner = np.clip(np.floor(pos * config.levels), 0, config.levels - 1) + 1
    bins = np.where(pos < 0, 0, np.where(pos > 1, config.levels + 1, inner))
    return np.where(ok & np.isfinite(lo), bins, -1).astype(np.int64)


def pattern_codes(bins: np.ndarray, levels: int, length: int) -> np.ndarray:
    """Integer code of the last ``length`` bins at every row; -1 where one of them is missing or before the start."""
    base = levels + 2
    n = len(bins)
    code = np.zeros(n, dtype=np.int64)
    valid = np.ones(n, dtype=bool)
    for lag in range(length):
        lagged = np.full(n, -1, dtype=np.int64)
        lagged[lag:] = bins[: n - lag] if lag else bins
        valid &= lagged >= 0
        code = code * base + np.maximum(lagged, 0)
    return np.where(valid, code, -1)


def first_occurrences(codes: np.ndarray) -> np.ndarray:
    """True where a (non-negative) code appears for the first time."""
    novel = np.zeros(len(codes), dtype=bool)
    ok = codes >= 0
    if ok.any():
        _, first = np.unique(codes[ok], return_index=True)
        novel[np.flatnonzero(ok)[first]] = True
    return novel


def pattern_novelty(values: np.ndarray, config: PatternConfig = PatternConfig()) -> np.ndarray:
    """Score in [0, 1]: a never-seen pattern, weighted by how rare new patterns were recently."""
    bins = learned_bins(values, config)
    novel = first_occurrences(pattern_codes(bins, config.levels, config.length))
    rate, count = trailing_mean(novel.astype(float), config.rate_window)
    rate = np.where(count > 0, rate, 1.0)
    seen = np.arange(len(bins)) >= config.min_rows
    return np.where(novel & seen, (1.0 - rate) ** config.power, 0.0)
