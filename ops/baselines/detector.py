"""The streaming anomaly detector behind the dynamic thresholds.

Given one series (timestamps, values) it returns an anomaly score in [0, 1]
for every row. It is strictly causal: the score of row ``t`` is a function of
rows ``0..t`` only, so scoring a prefix gives the prefix of the scores, and the
same code serves a batch back-fill and a live stream. Every series gets the
same algorithm and settings.

Method, per row ``t``:

1. **Counters.** A series that, so far, only ever went up (bar rare resets) is
   scored on its per-second rate instead of its level (:mod:`.counters`).
2. **Baseline.** A one-step forecast ``f[t]`` from past rows: a short median
   level, optionally on top of a daily or weekly seasonal profile (the median
   of the same phase over the last cycles, looked up by time so gaps and
   irregular sampling are fine). The season (none, daily or weekly) is chosen
   causally: a seasonal candidate is used once its forecasts have cut the mean
   absolute error of the recent past by 10 % (:mod:`.seasonality`). The level
   is the median of the last ``level_window`` (12) deviations from the
   profile, so a level shift is confirmed, and re-baselined, once it has held
   for more than half of them: the new level stops alerting.
3. **Robust residual.** ``e[t] = x[t] - f[t]`` is divided by a scale ``s[t]``:
   the MAD of the errors of the previous ~1,000 rows (a median of block
   medians, so earlier anomalies do not widen the band), floored by the
   series' typical non-zero step, so quantised or mostly flat series cannot
   divide by zero; a series that has not moved at all yet is floored at 1 %
   of its level instead. ``z[t] = e[t] / s[t]``.
4. **Novelty.** A deviation matters when it is larger than what the series
   did recently: ``r[t] = |z[t]| / max(z_min, max |z| over the previous
   novelty_window rows)``. This calibrates heavy-tailed and well-behaved
   series alike (each is compared with its own recent extremes), and a burst
   of similar deviations alerts once, at its first and largest step up,
   rather than on every row.
5. **Score.** ``score = r^a / (1 + r^a)``: 0.5 when the deviation equals the
   larger of ``z_min`` and the recent extreme, close to 1 well beyond it.
6. **Suppression after a detection** (``suppress_rows > 0``): for
   ``suppress_rows`` rows after a row scored at least ``suppress_level``, scores
   are multiplied by ``suppress_factor``, so one event alerts once, early.

Rows are scored in arrival order. A row whose timestamp is earlier than one
already seen (clock skew, a late point) or repeats it is still scored: its
time is taken as the latest time seen so far (:func:`arrival_clock`), so the
time-based seasonal look-ups never run backwards.

All steps are array operations over the whole series (sorted sliding windows,
block medians, running maxima, cumulative sums, binary searches on time);
there is no Python loop over rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ops.baselines.counters import CounterConfig, as_rates, counter_rows
from ops.baselines.robust import trailing_mad_scale, trailing_max, trailing_resolution
from ops.baselines.seasonality import SeasonConfig, baseline


@dataclass(frozen=True)
class DetectorConfig:
    """Settings shared by every series (windows are in rows unless noted)."""

    season: SeasonConfig = field(default_factory=SeasonConfig)
    counter: CounterConfig = field(default_factory=CounterConfig)
    scale_window: int = 1024
    scale_block: int = 64
    min_history: int = 10
    resolution_floor: float = 1.0
    relative_floor: float = 1e-2
    absolute_floor: float = 1e-9
    novelty_window: int = 500
    z_min: float = 4.0
    sharpness: float = 4.0
    suppress_rows: int = 100
    suppress_level: float = 0.6
    suppress_factor: float = 0.8


@dataclass(frozen=True)
class Detection:
    """Everything the detector computed, one entry per row."""

    score: np.ndarray
    forecast: np.ndarray
    scale: np.ndarray
    z: np.ndarray
    season: np.ndarray
    counter: np.ndarray

    def band(self, z: float) -> tuple[np.ndarray, np.ndarray]:
        """The ``forecast -/+ z * scale`` band (in the scored unit: rates for counters)."""
        return self.forecast - z * self.scale, self.forecast + z * self.scale


def to_seconds(timestamps: np.ndarray) -> np.ndarray:
    """Timestamps as float seconds: datetime64 values, timezone-aware pandas timestamps, or seconds."""
    ts = np.asarray(timestamps)
    if ts.dtype == object and len(ts):
        ts = pd.to_datetime(ts, utc=True).to_numpy("datetime64[ns]")
    if np.issubdtype(ts.dtype, np.datetime64):
        return ts.astype("datetime64[ns]").astype(np.int64) / 1e9
    return ts.astype(float)


@dataclass(frozen=True)
class ArrivalClock:
    """Row times as scored (never decreasing) and how many rows arrived late or repeated a time."""

    seconds: np.ndarray
    late: int
    duplicate: int


def arrival_clock(seconds: np.ndarray) -> ArrivalClock:
    """The running maximum of the row times: a late row is placed at the latest time seen before it."""
    if len(seconds) == 0:
        return ArrivalClock(np.asarray(seconds, dtype=float), 0, 0)
    step = np.diff(seconds)
    clock = np.maximum.accumulate(seconds)
    return ArrivalClock(clock, int((seconds[1:] < clock[:-1]).sum()), int((step == 0).sum()))


def suppress(score: np.ndarray, config: DetectorConfig) -> np.ndarray:
    """Scores damped by ``suppress_factor`` for ``suppress_rows`` rows after one at ``suppress_level`` or more."""
    if config.suppress_rows <= 0 or len(score) == 0:
        return score
    fired = np.nan_to_num(trailing_max((score >= config.suppress_level).astype(float), config.suppress_rows))
    return np.where(fired > 0, score * config.suppress_factor, score)


def robust_scale(values: np.ndarray, errors: np.ndarray, forecast: np.ndarray, config: DetectorConfig) -> np.ndarray:
    """MAD of past forecast errors, floored by the series' resolution.

    The resolution is the median non-zero step seen in the window; a series
    that has not moved at all yet is floored at ``relative_floor`` of its
    level instead (and always at ``absolute_floor``).
    """
    mad = trailing_mad_scale(errors, config.scale_window, config.min_history, config.scale_block)
    resolution = config.resolution_floor * trailing_resolution(values, config.scale_window, config.scale_block)
    flat = config.relative_floor * np.nan_to_num(np.abs(forecast), nan=0.0)
    floor = np.where(np.isfinite(resolution), resolution, flat)
    return np.where(np.isfinite(mad), np.fmax(mad, np.fmax(floor, config.absolute_floor)), np.nan)


def novelty_score(z: np.ndarray, config: DetectorConfig) -> np.ndarray:
    """``r^a / (1 + r^a)`` with ``r = |z| / max(z_min, recent max |z|)``; 0 where ``z`` is undefined."""
    size = np.nan_to_num(np.abs(z), nan=0.0)
    recent = np.nan_to_num(trailing_max(size, config.novelty_window), nan=0.0)
    ratio = size / np.fmax(recent, config.z_min)
    with np.errstate(divide="ignore", over="ignore"):
        score = 1.0 / (1.0 + np.exp(-config.sharpness * np.log(ratio)))
    return np.where(ratio > 0, score, 0.0)


def detect(timestamps: np.ndarray, values: np.ndarray, config: DetectorConfig = DetectorConfig()) -> Detection:
    """Score every row of one series; see the module docstring for the method.

    ``timestamps`` (datetime64 or seconds) are in arrival order; late or
    repeated ones are scored at the latest time seen (:func:`arrival_clock`).
    ``values`` may hold NaN (or infinities) for missing readings: their score
    is 0 and they take no part in any statistic.
    """
    x = np.asarray(values, dtype=float)
    raw = to_seconds(timestamps)
    if raw.shape != x.shape or x.ndim != 1:
        raise ValueError("timestamps and values must be 1-D arrays of the same length")
    seconds = arrival_clock(raw).seconds
    x = np.where(np.isfinite(x), x, np.nan)
    is_counter = counter_rows(x, config.counter)
    x = as_rates(seconds, x, is_counter)
    base = baseline(seconds, x, config.season)
    errors = x - base.forecast
    scale = robust_scale(x, errors, base.forecast, config)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = errors / scale
    return Detection(suppress(novelty_score(z, config), config), base.forecast, scale, z, base.season, is_counter)


def score_series(timestamps: np.ndarray, values: np.ndarray, config: DetectorConfig = DetectorConfig()) -> np.ndarray:
    """Anomaly score in [0, 1] for every row (see :func:`detect`)."""
    return detect(timestamps, values, config).score
