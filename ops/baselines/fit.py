"""Fitting baselines for a fleet of series: seasonality detection, backtested model choice, robust scale.

For each series (see :mod:`.decompose` for the decomposition itself):

1. **Checks.** Timestamps must go forward; at least ``min_points`` finite
   values; not constant (a band around a constant has no width: use a static
   rule). A series that fails is reported with the reason, and the rest of
   the fleet is fitted.
2. **Counters** (a series that only goes up, bar resets) are fitted on their
   per-second rate (:mod:`.counters`).
3. **Candidate seasons**: none, daily, weekly and daily+weekly. A period is
   a candidate for a series that spans at least two of its cycles and whose
   slot medians have a significant autocorrelation at that lag (statsmodels'
   ``acf``, above the 95 % white-noise bound ``1.96 / sqrt(n)``).
4. **Backtest.** Every candidate is fitted on all but the last day and
   forecasts that day; its error is the median absolute error over the day's
   slots. A richer candidate replaces the current choice only when it cuts
   the error by ``selection_gain`` (10 %): the model is chosen by the data,
   and the simplest one that forecasts as well wins.
5. **Fit** of the chosen candidate on the whole history.
6. **Scale**: 1.4826 times the MAD of the remainder at full resolution
   (each point minus trend plus season), not the standard deviation, so
   anomalies in the training window do not widen the band. It is floored at
   the series' quantum (the smallest step between two of its values: 1 for a
   count), at ``relative_floor`` of the level, and at ``absolute_floor``, so
   sparse, low-volume and quantised series get a band they can live in.

Missing points are simply absent: slots without a point are NaN and every
statistic skips them.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

import numpy as np

from ops.baselines.counters import CounterConfig, as_rates, counter_rows
from ops.baselines.decompose import Components, Method, decompose, nanmedian
from ops.baselines.model import DAY, MAD_TO_SIGMA, WEEK, Baseline, slot_position
from ops.baselines.slots import Points, SlotGrid, dense_groups, group_medians, slot_grid
from ops.errors import BaselineInputError
from ops.metrics.models import Series, from_ns
from ops.metrics.timerange import duration_text

CANDIDATES: tuple[tuple[float, ...], ...] = ((), (DAY,), (WEEK,), (DAY, WEEK))
MODEL_NAMES = {(): "none", (DAY,): "daily", (WEEK,): "weekly", (DAY, WEEK): "daily+weekly"}


@dataclass(frozen=True)
class FitConfig:
    """The settings every series is fitted with."""

    slot_seconds: float = 3600.0
    level_seconds: float = DAY / 2
    max_holdout_days: int = 7
    min_points: int = 24
    selection_gain: float = 0.9
    relative_floor: float = 1e-3
    absolute_floor: float = 1e-9
    method: Method = "median"
    batch_series: int = 256
    counter: CounterConfig = field(default_factory=CounterConfig)


@dataclass(frozen=True)
class Rejection:
    """A series that could not be fitted, and why."""

    metric: str
    labels: dict[str, str]
    reason: str
    hint: str


@dataclass(frozen=True)
class FitResult:
    baselines: list[Baseline]
    rejected: list[Rejection]


@dataclass(frozen=True)
class _Prepared:
    series: Series
    seconds: np.ndarray
    values: np.ndarray
    step: float
    counter: bool


def more_history_hint(seconds: np.ndarray, needed: int) -> str:
    """How much history ``needed`` points take at the series' own spacing, in ``--since`` terms."""
    keep = "keep the sampler service running (`ops metrics sampler status`) and fit again"
    if len(seconds) < 2:
        return f"{keep} once the series has {needed} points (`ops metrics list` shows how many it has)"
    step = float(np.median(np.diff(seconds)))
    span = duration_text(step * (needed - 1))
    return f"{needed} points at one per {duration_text(step)} span {span}: {keep} with --since {span} or more"


def ensure_fittable(series: Series, config: FitConfig) -> _Prepared:
    """The series' seconds and (rate-converted) values, or ``BaselineInputError`` saying what is wrong."""
    seconds = series.timestamps / 1e9
    values = np.where(np.isfinite(series.values), series.values, np.nan)
    back = np.flatnonzero(np.diff(seconds) <= 0)
    if len(back):
        at = from_ns(int(series.timestamps[back[0] + 1])).isoformat()
        raise BaselineInputError(
            f"timestamps do not increase at point {back[0] + 1} ({at})",
            hint="sort the points by time and drop duplicate timestamps",
        )
    finite = values[np.isfinite(values)]
    if len(finite) < config.min_points:
        raise BaselineInputError(
            f"too little history: {len(finite)} points, a baseline needs at least {config.min_points}",
            hint=more_history_hint(seconds[np.isfinite(values)], config.min_points),
        )
    if finite.min() == finite.max():
        raise BaselineInputError(
            f"constant series (every value is {finite[0]:g}): a dynamic band has no width",
            hint="use a static threshold rule for this metric",
        )
    counter = bool(counter_rows(values, config.counter)[-1])
    if counter:
        values = as_rates(seconds, values, np.ones(len(values), dtype=bool))
    return _Prepared(series, seconds, values, float(np.median(np.diff(seconds))), counter)


def fit_series(series: Series, config: FitConfig = FitConfig(), now: datetime | None = None) -> Baseline:
    """Fit one series; raises ``BaselineInputError`` when it cannot be fitted."""
    result = fit_many([series], config, now, strict=True)
    return result.baselines[0]


def fit_many(
    fleet: Sequence[Series], config: FitConfig = FitConfig(), now: datetime | None = None, *, strict: bool = False
) -> FitResult:
    """Fit every series; those that cannot be fitted are listed in ``rejected`` (or raise, when ``strict``)."""
    now = now or datetime.now(timezone.utc)
    prepared: dict[float, list[_Prepared]] = {}
    rejected: list[Rejection] = []
    for series in fleet:
        try:
            ready = ensure_fittable(series, config)
        except BaselineInputError as exc:
            if strict:
                raise
            rejected.append(Rejection(series.metric, series.labels, str(exc.args[0]), exc.hint))
            continue
        slot = config.slot_seconds if ready.step <= config.slot_seconds else ready.step
        prepared.setdefault(slot, []).append(ready)
    baselines: list[Baseline] = []
    for slot, group in prepared.items():
        for first in range(0, len(group), config.batch_series):  # bounded memory, whatever the fleet's size
            baselines.extend(_fit_group(group[first : first + config.batch_series], slot, config, now))
    return FitResult(baselines, rejected)


def _fit_group(group: list[_Prepared], slot: float, config: FitConfig, now: datetime) -> list[Baseline]:
    points = Points.concat([p.seconds for p in group], [p.values for p in group])
    grid = slot_grid(points, len(group), slot)
    level_slots = max(1, round(config.level_seconds / slot))
    eligible = candidate_mask(grid)
    errors = backtest(grid, eligible, level_slots, config)
    chosen = choose(errors, config.selection_gain)
    profile_span = max((_slots(p, slot) or 1 for c in CANDIDATES for p in c), default=1)
    profile = np.zeros((grid.rows, profile_span))
    trend = np.empty_like(grid.matrix)
    level = np.empty(grid.rows)
    for index, candidate in enumerate(CANDIDATES):
        rows = np.flatnonzero(chosen == index)
        if not len(rows):
            continue
        sub = SlotGrid(slot, grid.first, grid.matrix[rows], grid.counts[rows])
        comps = decompose(sub, tuple(_slots(p, slot) for p in candidate), level_slots, config.method)
        profile[rows] = np.tile(comps.profile, (1, profile_span // comps.span))
        trend[rows], level[rows] = comps.trend, comps.level
    whole = Components((profile_span,), profile, trend, level)
    scale, smooth = robust_scale(points, grid, whole, level, config)
    return [
        replace(
            _baseline(p, r, grid, chosen[r], profile[r], level[r], scale[r], errors[r], config, now),
            smooth=bool(smooth[r]),
        )
        for r, p in enumerate(group)
    ]


def _slots(period: float, slot: float) -> int:
    """A period in slots, or 0 when the slot does not divide it."""
    ratio = period / slot
    return round(ratio) if abs(ratio - round(ratio)) < 1e-9 and ratio >= 2 else 0


def candidate_mask(grid: SlotGrid) -> np.ndarray:
    """(rows, candidates): may the row use the candidate? Every period needs two cycles and a significant ACF."""
    from statsmodels.tsa.stattools import acf

    present = np.isfinite(grid.matrix)
    first = np.argmax(present, axis=1)
    last = grid.width - 1 - np.argmax(present[:, ::-1], axis=1)
    span = last - first + 1
    mask = np.ones((grid.rows, len(CANDIDATES)), dtype=bool)
    periods = sorted({_slots(p, grid.slot) for c in CANDIDATES for p in c})
    significant = {p: np.zeros(grid.rows, dtype=bool) for p in periods}
    for r in range(grid.rows):
        usable = [p for p in periods if p and span[r] >= 2 * p]
        if not usable:
            continue
        y = grid.matrix[r, first[r] : last[r] + 1]
        bound = 1.96 / math.sqrt(np.isfinite(y).sum())
        coefficients = acf(y, nlags=max(usable), missing="conservative")
        for p in usable:
            significant[p][r] = coefficients[p] > bound
    for index, candidate in enumerate(CANDIDATES):
        for period in candidate:
            p = _slots(period, grid.slot)
            mask[:, index] &= significant[p] if p else False
    return mask


def backtest(grid: SlotGrid, eligible: np.ndarray, level_slots: int, config: FitConfig) -> np.ndarray:
    """(rows, candidates): forecast error of each candidate over held-out days, its season fitted on the days before.

    The last ``holdout`` days (half the history, at most ``max_holdout_days``)
    are forecast day by day: the seasonal profile comes from the training days
    only, and each day's level from the ``level_slots`` slots just before it,
    as a daily refit would have it (so a level shift inside the held-out days
    costs every candidate the same one day, and a weekend that a weekday level
    gets wrong costs the candidates without a weekly season). The error is the
    mean over held-out days of each day's median absolute error: a day's median
    ignores a short anomaly. Ineligible candidates, those without a full cycle
    of training, and every candidate when the history is shorter than two days
    get ``inf`` (the plain level is then chosen).
    """
    day = max(1, round(DAY / grid.slot))
    days = min(config.max_holdout_days, grid.width // day // 2)
    errors = np.full(eligible.shape, np.inf)
    if days < 1:
        return errors
    hold = days * day
    train = grid.head(grid.width - hold)
    phases = grid.first + np.arange(grid.width)
    for index, candidate in enumerate(CANDIDATES):
        periods = tuple(_slots(p, grid.slot) for p in candidate)
        rows = np.flatnonzero(eligible[:, index])
        if not len(rows) or max(periods, default=0) > train.width:
            continue
        sub = SlotGrid(grid.slot, train.first, train.matrix[rows], train.counts[rows])
        comps = decompose(sub, periods, level_slots, config.method)
        deseasoned = grid.matrix[rows] - comps.profile[:, phases % comps.span]
        starts = grid.width - hold + day * np.arange(days)
        before = deseasoned[:, (starts[:, None] - level_slots + np.arange(level_slots)).ravel()]
        levels = nanmedian(before.reshape(len(rows), days, level_slots), axis=2)
        held = deseasoned[:, -hold:].reshape(len(rows), days, day)
        miss = np.abs(held - levels[:, :, None])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a row with no held-out point gives NaN
            error = np.nanmean(nanmedian(miss, axis=2), axis=1)
        errors[rows, index] = np.where(np.isfinite(error), error, np.inf)
    return errors


def choose(errors: np.ndarray, gain: float) -> np.ndarray:
    """Per row, the index of the chosen candidate: a richer one must beat the current choice by ``gain``."""
    chosen = np.zeros(len(errors), dtype=np.int64)
    for index in range(1, errors.shape[1]):
        current = errors[np.arange(len(errors)), chosen]
        better = np.isfinite(errors[:, index]) & ((errors[:, index] < gain * current) | ~np.isfinite(current))
        chosen = np.where(better, index, chosen)
    return chosen


def robust_scale(
    points: Points, grid: SlotGrid, comps: Components, level: np.ndarray, config: FitConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Per row: 1.4826 * MAD of the remainder at full resolution, floored; and whether the profile is smooth.

    The remainder is computed twice, with the profile interpolated between
    slot centres and held across slots; the reading with the smaller MAD is
    kept (a wave fits the first, a level that changes on the hour the second).
    """
    u = points.seconds / grid.slot - 0.5 - grid.first
    j0 = np.clip(np.floor(u).astype(np.int64), 0, grid.width - 1)
    j1 = np.clip(j0 + 1, 0, grid.width - 1)
    frac = np.clip(u - np.floor(u), 0.0, 1.0)
    trend = np.where(np.isfinite(comps.trend), comps.trend, level[:, None])
    trend_at = (1 - frac) * trend[points.row, j0] + frac * trend[points.row, j1]
    mads = []
    for smooth in (True, False):
        k, w = slot_position(points.seconds, grid.slot, smooth)
        season = (1 - w) * comps.profile[points.row, k % comps.span] + w * comps.profile[
            points.row, (k + 1) % comps.span
        ]
        remainder = points.values - trend_at - season
        centre, _ = group_medians(points.row, remainder, grid.rows)
        mad, _ = group_medians(points.row, np.abs(remainder - centre[points.row]), grid.rows)
        mads.append(np.nan_to_num(mad, nan=0.0))
    smooth = mads[0] <= mads[1]
    floor = np.fmax(np.fmax(quantum(points, grid.rows), config.relative_floor * np.abs(level)), config.absolute_floor)
    return np.fmax(MAD_TO_SIGMA * np.where(smooth, mads[0], mads[1]), floor), smooth


def quantum(points: Points, rows: int) -> np.ndarray:
    """Per row, the smallest positive gap between two of its values (0 when there is none)."""
    dense, _ = dense_groups(points.row, points.values, rows)
    if dense.shape[1] < 2:
        return np.zeros(rows)
    gaps = np.diff(np.sort(dense, axis=1), axis=1)
    gaps[~(gaps > 0)] = np.inf
    smallest = gaps.min(axis=1)
    return np.where(np.isfinite(smallest), smallest, 0.0)


def _baseline(
    p: _Prepared,
    r: int,
    grid: SlotGrid,
    chosen: int,
    profile: np.ndarray,
    level: float,
    scale: float,
    errors: np.ndarray,
    config: FitConfig,
    now: datetime,
) -> Baseline:
    candidate = CANDIDATES[chosen]
    span = max((_slots(q, grid.slot) for q in candidate), default=1)
    seasons = [
        name
        for name, period in (("daily", DAY), ("weekly", WEEK))
        if period in candidate or (period == DAY and errors[1] < config.selection_gain * errors[0])
    ]
    present = grid.counts[r] > 0
    first, last = int(np.argmax(present)), grid.width - 1 - int(np.argmax(present[::-1]))
    return Baseline(
        metric=p.series.metric,
        labels=dict(p.series.labels),
        model=MODEL_NAMES[candidate],
        method=config.method,
        seasons=tuple(seasons),
        slot_seconds=grid.slot,
        step_seconds=p.step,
        profile=profile[:span].copy() if candidate else np.zeros(1),
        level=float(level),
        scale=float(scale),
        counter=p.counter,
        points=int(np.isfinite(p.values).sum()),
        coverage=float(present[first : last + 1].mean()),
        train_start=from_ns(int(p.series.timestamps[0])),
        train_end=from_ns(int(p.series.timestamps[-1])),
        fitted_at=now,
        backtest={MODEL_NAMES[c]: float(e) for c, e in zip(CANDIDATES, errors, strict=True) if np.isfinite(e)},
    )
