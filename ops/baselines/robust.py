"""Trailing (strictly causal) robust statistics over numpy arrays.

Every function here returns, for row ``t``, a statistic of rows *before* ``t``
only (``t - window .. t - 1``), so a value never sees itself or the future.
Missing values (NaN) are skipped; a row whose window holds too few values gets
NaN. There is no Python loop over rows: short medians sort a sliding window
view, long ones are medians of block medians (or pandas' skip-list rolling
median), maxima use pandas' rolling kernel and means use cumulative sums.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

MAD_TO_SIGMA = 1.4826  # MAD of a normal sample times this estimates its standard deviation
SHORT_WINDOW = 64  # up to this many rows, trailing medians sort a sliding view


def shift(x: np.ndarray, fill: float = np.nan) -> np.ndarray:
    """``x`` moved one row later: row ``t`` gets ``x[t - 1]``, row 0 gets ``fill``."""
    out = np.empty(len(x), dtype=float)
    if len(x):
        out[0] = fill
        out[1:] = x[:-1]
    return out


def trailing_median(x: np.ndarray, window: int, min_periods: int = 1) -> np.ndarray:
    """Median of the ``window`` rows before each row (exact, every row).

    Short windows sort a sliding view (``O(n w log w)``, fast for ``w`` up to a
    few dozen); long ones use pandas' skip-list rolling median.
    """
    x = np.asarray(x, dtype=float)
    if window <= SHORT_WINDOW:
        counts = trailing_counts(x, window)
        med = nanmedian_rows(_trailing_windows(x, window), counts)
        return np.where(counts >= max(min_periods, 1), med, np.nan)
    med = pd.Series(x).rolling(window, min_periods=min_periods).median().to_numpy()
    return shift(med)


def trailing_block_median(x: np.ndarray, block: int, blocks: int, min_periods: int = 1) -> np.ndarray:
    """Median of the medians of the last ``blocks`` complete blocks of ``block`` rows before each row.

    The series is cut into consecutive blocks of ``block`` rows; a row in
    block ``k`` gets the median of the medians of blocks ``k - blocks .. k - 1``
    (rows before the first complete block get the plain median of the rows
    before them). This robust long-window statistic refreshes once per block
    and costs one small sort per row instead of a long window per row. An
    outlier moves only its own block's median, by one rank. Strictly causal.
    """
    x = np.asarray(x, dtype=float)
    n = len(x)
    need = max(min_periods, 1)
    t = np.arange(n)
    head = t < block  # no complete block yet: the exact median of all rows before
    head_counts = trailing_counts(x[:block], block)
    out = np.full(n, np.nan)
    out[head] = np.where(head_counts >= need, nanmedian_rows(_trailing_windows(x[:block], block), head_counts), np.nan)
    m = n // block
    if m == 0:
        return out
    cells = x[: m * block].reshape(m, block)
    cell_counts = np.isfinite(cells).sum(axis=1)
    medians = np.append(nanmedian_rows(cells, cell_counts), np.nan)  # one per block, plus the open one
    checkpoint = nanmedian_rows(_trailing_windows(medians, blocks))  # [k]: over blocks k - blocks .. k - 1
    filled = np.concatenate(([0], np.cumsum(cell_counts)))
    k = np.arange(m + 1)
    seen = filled[k] - filled[np.maximum(k - blocks, 0)]
    checkpoint = np.where(seen >= need, checkpoint, np.nan)
    out[~head] = checkpoint[t[~head] // block]
    return out


def trailing_counts(x: np.ndarray, window: int) -> np.ndarray:
    """How many finite values the ``window`` rows before each row hold."""
    seen = np.concatenate(([0], np.cumsum(np.isfinite(x))))
    t = np.arange(len(x))
    return seen[t] - seen[np.maximum(t - window, 0)]


def _trailing_windows(x: np.ndarray, window: int) -> np.ndarray:
    """``(n, window)`` read-only view: row ``t`` holds ``x[t - window : t]`` (NaN before the start)."""
    padded = np.concatenate((np.full(window, np.nan), x))
    return sliding_window_view(padded, window)[: len(x)]


def trailing_max(x: np.ndarray, window: int) -> np.ndarray:
    """Maximum of the ``window`` rows before each row (NaN where none has a value).

    Van Herk / Gil-Werman: with the series cut into blocks of ``window`` rows,
    every window spans the tail of one block and the head of the next, so its
    maximum is the larger of a suffix maximum and a prefix maximum, both
    running maxima within blocks. ``O(n)``, exact.
    """
    x = np.asarray(x, dtype=float)
    n = len(x)
    if n == 0:
        return np.empty(0)
    padded = np.full(-(-(n + window) // window) * window, -np.inf)
    padded[window : window + n] = np.where(np.isnan(x), -np.inf, x)  # padded[t + window] = x[t]
    blocks = padded.reshape(-1, window)
    prefix = np.maximum.accumulate(blocks, axis=1).ravel()
    suffix = np.maximum.accumulate(blocks[:, ::-1], axis=1)[:, ::-1].ravel()
    t = np.arange(n)
    out = np.maximum(suffix[t], prefix[t + window - 1])  # over padded[t .. t + window - 1] = x[t - window .. t - 1]
    return np.where(out == -np.inf, np.nan, out)


def trailing_mean(x: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the finite values among the ``window`` rows before each row, and how many there were.

    Computed with cumulative sums: ``O(n)``.
    """
    ok = np.isfinite(x)
    csum = np.concatenate(([0.0], np.cumsum(np.where(ok, x, 0.0))))
    ccount = np.concatenate(([0], np.cumsum(ok)))
    t = np.arange(len(x))
    lo = np.maximum(t - window, 0)
    total, count = csum[t] - csum[lo], ccount[t] - ccount[lo]
    mean = np.full(len(x), np.nan)
    np.divide(total, count, out=mean, where=count > 0)
    return mean, count


def trailing_mad_scale(errors: np.ndarray, window: int, min_periods: int, block: int = 1) -> np.ndarray:
    """Robust scale of forecast errors: ``1.4826 * median(|e|)`` over the rows before each row.

    The errors are one-step forecast errors, centred on zero by construction,
    so the median absolute error is their MAD. Outliers in the window (earlier
    anomalies) move a median by at most one rank each: they do not inflate it.
    With ``block > 1`` it is the median of block medians
    (:func:`trailing_block_median`), refreshed once per block.
    """
    size = np.abs(errors)
    if block > 1:
        return MAD_TO_SIGMA * trailing_block_median(size, block, max(1, window // block), min_periods)
    return MAD_TO_SIGMA * trailing_median(size, window, min_periods)


def trailing_resolution(values: np.ndarray, window: int, block: int = 1) -> np.ndarray:
    """Median non-zero step ``|x[t] - x[t-1]|`` over the rows before each row.

    A floor for the scale of quantised, sparse or near-constant series, where
    most errors are exactly zero and the MAD collapses to 0. NaN where no
    change has been seen yet. Row ``t``'s own step is not included. With
    ``block > 1`` it is a median of block medians, as for the MAD.
    """
    step = np.abs(np.diff(values, prepend=np.nan))
    step[step == 0] = np.nan
    if block > 1:
        return trailing_block_median(step, block, max(1, window // block))
    return trailing_median(step, window)


def nanmedian_rows(a: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Median of each row of a 2-D array, ignoring NaN (NaN where a row is all NaN).

    Sorting the rows (NaN sort last) and picking the middle of the finite part
    is far cheaper than ``np.nanmedian``. ``valid`` (finite values per row) may
    be passed when the caller already knows it.
    """
    if len(a) == 0:
        return np.empty(0)
    if a.shape[1] == 3 and valid is None:
        return _nanmedian3(a[:, 0], a[:, 1], a[:, 2])
    if valid is None:
        valid = np.isfinite(a).sum(axis=1)
    width = a.shape[1]
    full = valid == width
    if width > SHORT_WINDOW and full.any():  # complete long rows: select, do not sort
        out: np.ndarray = np.empty(len(a))
        mid = a[full]  # a copy, partitioned in place
        mid.partition([(width - 1) // 2, width // 2], axis=1)
        out[full] = 0.5 * (mid[:, (width - 1) // 2] + mid[:, width // 2])
        if not full.all():
            out[~full] = nanmedian_rows(a[~full], valid[~full])
        return out
    ordered = np.sort(a, axis=1)
    out = 0.5 * (ordered[:, (width - 1) // 2] + ordered[:, width // 2])  # rows without NaN
    part = np.flatnonzero(~full)
    if len(part):
        k = valid[part]
        lo = ordered[part, np.maximum((k - 1) // 2, 0)]
        hi = ordered[part, np.maximum(k // 2, 0)]
        out[part] = np.where(k > 0, 0.5 * (lo + hi), np.nan)
    return out


def _nanmedian3(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Element-wise median of three arrays ignoring NaN, with min/max instead of a sort."""
    med: np.ndarray = np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), c))
    finite = np.isfinite(a).astype(np.int8) + np.isfinite(b) + np.isfinite(c)
    if (finite == 3).all():
        return med
    pair = 0.5 * (np.fmin(np.fmin(a, b), c) + np.fmax(np.fmax(a, b), c))  # mean of the two finite ones
    mixed: np.ndarray = np.where(finite == 3, med, np.where(finite == 2, pair, np.fmax(np.fmax(a, b), c)))
    return mixed
