"""Vectorised statistics over many series at once: ``x`` is (series, rows), one series per row.

No Python loop runs over points or series, except the Granger test, which
runs for a handful of suspects only.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.fft

from ops.baselines.robust import MAD_TO_SIGMA
from ops.correlate.models import Granger

MEAN_AD_TO_SIGMA = 1.2533  # sqrt(pi / 2): a normal's standard deviation over its mean absolute deviation
SPREAD_SHARE = 0.5  # below a normal's own spread: binds only for sparse, spiky baselines
ONSET_SIGMAS = 4.0  # a series has begun to move once it is this many robust sigmas off its baseline
ONSET_SHARE = 0.1  # ... and this share of the way to its level after the change
CHUNK = 128  # series per batch: bounds temporaries (~7 MB each for 2 h at 1 s) and keeps them in cache


def masked_median(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Median of each row over the True cells of ``mask``; NaN for a row with none."""
    ordered = np.sort(np.where(mask, x, np.inf), axis=1)
    count = mask.sum(axis=1)
    rows = np.arange(len(x))
    lo = ordered[rows, np.maximum((count - 1) // 2, 0)]
    hi = ordered[rows, np.maximum(count // 2, 0)]
    return np.where(count > 0, 0.5 * (lo + hi), np.nan)


def change_points(x: np.ndarray, min_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The single mean-shift change point of each row, and its correlation with a step there.

    For a split at ``s`` (rows ``< s`` before, ``>= s`` after), the point-biserial
    correlation of the row with the step ``1[t >= s]`` is
    ``-C[s] / (sqrt(s (n - s)) * std)``, where ``C`` is the cumulative sum of the
    centred row. That is the standardised CUSUM statistic; its largest magnitude
    over ``min_size <= s <= n - min_size`` marks the change. Returns the split
    index and the (signed) correlation there: positive when the row rose.
    """
    n = x.shape[1]
    centred = x - x.mean(axis=1, keepdims=True)
    std = np.sqrt((centred**2).mean(axis=1))
    split = np.arange(min_size, n - min_size + 1)
    cumulative = np.cumsum(centred, axis=1)[:, split - 1]
    r = -cumulative / np.sqrt(split * (n - split))[None, :] / np.where(std > 0, std, np.inf)[:, None]
    best = np.argmax(np.abs(r), axis=1)
    return split[best], r[np.arange(len(x)), best]


@dataclass(frozen=True)
class Shifts:
    """Per row: baseline median and scale, the level after the split, the robust z and the peak z, and
    whether the baseline sat still (no MAD: flat or sparse)."""

    baseline: np.ndarray
    level: np.ndarray
    scale: np.ndarray
    z: np.ndarray
    peak_z: np.ndarray
    still: np.ndarray


def masked_mean(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of each row over the True cells of ``mask``; 0 for a row with none."""
    count = mask.sum(axis=1)
    total = np.where(mask, x, 0.0).sum(axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)


def robust_shifts(x: np.ndarray, split: np.ndarray, start: np.ndarray | None = None) -> Shifts:
    """How far each row moved after its ``split`` from its baseline before it, in robust standard deviations.

    The scale is the baseline's MAD (times 1.4826), floored by

    * the baseline's quantum (its median non-zero step), so that a flat, quantised
      series (memory in 4 KiB pages) is measured in its own steps rather than by a
      zero; a series flat through its whole baseline is measured in its smallest
      step anywhere in the window;
    * half the baseline's mean absolute deviation (as a standard deviation) when
      its MAD is 0: a sparse series, zero in most rows with a few spikes, has a
      MAD of 0 but not a spread of 0, and a jump in it is measured against its
      spikes.

    ``still`` flags the rows whose baseline has no MAD (flat or sparse): their
    z rests on a floor, not on the noise. With ``start``, each row's baseline
    begins there (rows before it are left out). Missing cells (NaN) are left
    out; a row with none before or after its split has a z of 0.
    """
    n = x.shape[1]
    cols = np.arange(n)[None, :]
    first = np.zeros(len(x), dtype=int) if start is None else start
    valid = np.isfinite(x)
    before = (cols < split[:, None]) & (cols >= first[:, None]) & valid
    after = (cols >= split[:, None]) & valid
    baseline = masked_median(x, before)
    level = masked_median(x, after)
    mad = MAD_TO_SIGMA * masked_median(np.abs(x - baseline[:, None]), before)
    step = np.abs(np.diff(x, axis=1))
    moved = step > 0
    quantum = masked_median(step, moved & before[:, :-1] & (cols[:, :-1] < split[:, None] - 1))
    smallest = np.where(moved, step, np.inf).min(axis=1)
    quantum = np.where(np.isfinite(quantum), quantum, smallest)
    floor = 1e-12 * np.maximum(1.0, np.abs(baseline))
    spread = SPREAD_SHARE * MEAN_AD_TO_SIGMA * masked_mean(np.abs(x - baseline[:, None]), before)
    spread = np.where(mad > 0, 0.0, spread)  # only a baseline that sat still in most rows
    scale = np.fmax(np.fmax(np.fmax(mad, np.where(np.isfinite(quantum), quantum, 0.0)), floor), spread)
    z = np.nan_to_num((level - baseline) / scale, nan=0.0, posinf=0.0, neginf=0.0)
    peak = np.nan_to_num(np.where(after, np.abs(x - baseline[:, None]), 0.0).max(axis=1) / scale, nan=0.0)
    return Shifts(baseline, level, scale, z, peak, ~(mad > 0))


def onsets(x: np.ndarray, shifts: Shifts, split: np.ndarray) -> np.ndarray:
    """The first row at which each series stands more than ``ONSET_SIGMAS`` robust standard deviations off its
    baseline, and ``ONSET_SHARE`` of the way to its level, on the side it moved, for two rows running (or in
    the last row): when it *began* to move.

    A mean-shift change point sits in the middle of a ramp (a leak); the onset
    is where the ramp leaves the baseline. A series that never does so keeps
    its change point. The share keeps a series that sat still to the page
    (memory) from beginning at its first creep: a few pages are many of its
    sigmas, but not the start of a move of hundreds of megabytes.
    """
    side = np.sign(shifts.z)[:, None]
    bar = np.fmax(ONSET_SIGMAS * shifts.scale, ONSET_SHARE * np.abs(shifts.level - shifts.baseline))
    beyond = side * (x - shifts.baseline[:, None]) > bar[:, None]
    held = beyond.copy()
    held[:, :-1] &= beyond[:, 1:]
    found: np.ndarray = np.where(held.any(axis=1), np.argmax(held, axis=1), split)
    return found


def evidence_in_blocks(
    x: np.ndarray, min_size: int, failure_row: int, answered: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, Shifts, np.ndarray]:
    """:func:`change_points`, :func:`robust_shifts` (split at the change or the failure, whichever is first)
    and :func:`onsets` over blocks of ``CHUNK`` rows: the temporaries of a block stay in cache, which a whole
    fleet's do not. ``answered``, when given, is ``x`` with the cells to leave out of the shifts as NaN
    (a sparse latency's idle minutes); the change points read ``x``."""
    parts = []
    for start in range(0, len(x), CHUNK):
        block = x[start : start + CHUNK]
        kept = block if answered is None else answered[start : start + CHUNK]
        split, r = change_points(block, min_size)
        shifts = robust_shifts(kept, np.minimum(split, failure_row))
        parts.append((split, r, shifts, onsets(kept, shifts, split)))
    shifts = Shifts(*(np.concatenate([getattr(p[2], f) for p in parts]) for f in Shifts.__dataclass_fields__))
    return (
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        shifts,
        np.concatenate([p[3] for p in parts]),
    )


def _standardise(x: np.ndarray) -> np.ndarray:
    centred = x - x.mean(axis=-1, keepdims=True)
    std = np.sqrt((centred**2).mean(axis=-1, keepdims=True))
    standard: np.ndarray = centred / np.where(std > 0, std, np.inf)
    return standard


def lagged_correlation(x: np.ndarray, y: np.ndarray, max_lag: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the cross-correlation with ``y`` of largest magnitude over lags ``-max_lag..max_lag``.

    At lag ``k`` it is ``sum_t x[t] y[t + k] / n`` of the standardised series
    (the biased estimate, as ``ccf`` has it), so ``k > 0`` means the row moves
    first. Computed with FFTs, in batches of rows. Returns ``(r, lag)``.
    """
    n = x.shape[1]
    size = scipy.fft.next_fast_len(n + max_lag + 1, real=True)
    target = scipy.fft.rfft(_standardise(y), size)
    lags = np.concatenate((np.arange(0, max_lag + 1), np.arange(-max_lag, 0)))
    picks = lags % size
    best_r, best_lag = np.empty(len(x)), np.empty(len(x), dtype=int)
    for start in range(0, len(x), CHUNK):
        block = scipy.fft.rfft(_standardise(x[start : start + CHUNK]), size, axis=1)
        cross = scipy.fft.irfft(np.conj(block) * target[None, :], size, axis=1)[:, picks] / n
        k = np.argmax(np.abs(cross), axis=1)
        best_r[start : start + CHUNK] = cross[np.arange(len(k)), k]
        best_lag[start : start + CHUNK] = lags[k]
    return best_r, best_lag


def granger(x: np.ndarray, y: np.ndarray, max_lag: int, alpha: float) -> Granger:
    """Does ``x``'s past help predict ``y``? statsmodels' SSR F test on first differences, lags 1..max_lag.

    Differences keep two trending series from looking causal. The smallest
    p-value over the lags is multiplied by the number of lags (Bonferroni).
    """
    from statsmodels.tsa.stattools import grangercausalitytests

    dx, dy = np.diff(x), np.diff(y)
    if len(dx) < 3 * max_lag + 10:
        return Granger(tested=False, note=f"too few rows for lags up to {max_lag}")
    if np.ptp(dx) == 0 or np.ptp(dy) == 0:
        return Granger(tested=False, note="a series does not vary")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = grangercausalitytests(np.column_stack((dy, dx)), maxlag=max_lag)
    except Exception as exc:  # noqa: BLE001 - singular designs and the like: no test, say why
        return Granger(tested=False, note=f"no test: {type(exc).__name__}: {exc}"[:160])
    p_values = {lag: float(result[0]["ssr_ftest"][1]) for lag, result in found.items()}
    lag = min(p_values, key=lambda k: p_values[k])
    p = min(1.0, p_values[lag] * len(p_values))
    return Granger(tested=True, p_value=p, lag_rows=int(lag), significant=p < alpha)
