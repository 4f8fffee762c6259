"""Ranking suspects: the evidence for every series at once, then one explainable score each.

``score = strength × direction × timing × association × magnitude × symptom × origin × granger`` where

* strength = ``log10(1 + |z|)``, z the robust shift from the series' own baseline;
* direction = ``down_weight`` for a resource (cpu, memory, network, disk) whose usage
  fell, else 1: resources cause failures by running out, so usage rises (for a
  headroom metric, free or available bytes, usage fell when the metric rose); a series that
  stopped reporting at the failure (its process is gone) reads as nothing from then on, and
  its fall is a loss, weighted 1;
* strength: ``|z|`` capped at ``z_cap`` for a symptom whose baseline sat still (no MAD);
* timing = ``lagging_weight`` when the series began to move after the failure (or once the alert on it fired),
  ``leading_weight`` when it began well before it while another series stepped at the
  failure (an earlier incident), else 1;
* symptom = ``symptom_weight`` for a non-resource series of a service one of whose own
  resources rose at the failure, else 1;
* origin = for a latency that rose at the failure, ``(its rise as a share of its baseline /
  the largest such share) ** origin_power`` (a caller's latency carries its callee's), else 1;
* association = ``0.5 + 0.5 |r|``, r the lagged cross-correlation with the failure signal
  (a step at the failure) or with the target;
* magnitude = ``min(1, relative change / material_change)`` for a resource, else 1;
* granger = ``granger_weight`` when the suspect's past significantly helps predict the target, else 1.

Each factor is kept in the evidence, so every rank can be read back.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np

from ops.correlate.explain import reasons_for
from ops.correlate.factors import (
    born_late,
    gone_at_failure,
    idle_zeros,
    materiality,
    moved_again,
    origin,
    read_as_nothing,
    rival_at_failure,
    strength,
    symptom_weights,
)
from ops.correlate.frame import failure_ns, prepare_frame, window_bounds
from ops.correlate.models import (
    CorrelateConfig,
    Correlation,
    CorrelationResult,
    Evidence,
    Granger,
    Suspect,
    Timing,
    WideFrame,
)
from ops.correlate.resources import measures_headroom, resource_of
from ops.correlate.stats import Shifts, evidence_in_blocks, granger, lagged_correlation
from ops.errors import CorrelateInputError
from ops.metrics.models import from_ns
from ops.metrics.timerange import duration_text


def ensure_target_is_valid(frame: WideFrame, target: str | None) -> None:
    """The target, when given, must be a column that was kept (not empty, sparse or constant)."""
    if target is None or target in frame.names:
        return
    skipped = next((s for s in frame.skipped if s.column == target), None)
    if skipped is not None:
        raise CorrelateInputError(
            f"the target {target!r} cannot be used: {skipped.reason}",
            hint="choose a target column that varies in the window",
        )
    near = ", ".join(sorted(frame.names, key=lambda n: (target.lower() not in n.lower(), n))[:5])
    raise CorrelateInputError(f"no column {target!r} in the metrics", hint=f"columns include: {near}")


def ensure_failure_is_inside(frame: WideFrame, failure_at: datetime, config: CorrelateConfig) -> int:
    """The index of the first row at or after the failure; raises when the failure is outside the data."""
    if frame.rows == 0:
        raise CorrelateInputError("the window has no rows", hint="widen the window or check the selector")
    at = failure_ns(failure_at)
    first, last = window_bounds(frame)
    grace = int(config.failure_grace_seconds * 1e9)
    if at <= int(frame.times[0]) or at > int(frame.times[-1]) + grace:
        raise CorrelateInputError(
            f"the failure time {failure_at.isoformat()} is outside the data ({first.isoformat()} … {last.isoformat()})",
            hint="give a failure time after the first row and within the data, or widen the window",
        )
    return int(np.searchsorted(frame.times, at, side="left"))


def ensure_window_is_long_enough(frame: WideFrame, failure_row: int, config: CorrelateConfig) -> None:
    """Enough rows in all and before the failure; the message says how many are needed."""
    if frame.rows < config.min_rows or failure_row < config.min_before:
        step = _step_seconds(frame)
        need = max(config.min_before - failure_row, 0) * step
        raise CorrelateInputError(
            f"too short a window: {frame.rows} rows, {failure_row} before the failure; correlation needs at least "
            f"{config.min_rows} rows with {config.min_before} before the failure",
            hint=f"add about {duration_text(need)} to --before (one row per {duration_text(step)})"
            if need
            else "read a longer window, or sample more often",
        )


def ensure_suspects_exist(frame: WideFrame, target: str | None) -> None:
    if not [n for n in frame.names if n != target]:
        reasons = "; ".join(f"{s.column}: {s.reason}" for s in frame.skipped[:5])
        raise CorrelateInputError(
            "no metric varies in the window, so there is nothing to rank"
            + (f" (skipped {reasons})" if reasons else ""),
            hint="widen the window, or check that the metrics were sampled",
        )


def _step_seconds(frame: WideFrame) -> float:
    return float(np.median(np.diff(frame.times))) / 1e9 if frame.rows > 1 else 1.0


@dataclass(frozen=True)
class _Batch:
    """The vectorised evidence of every suspect."""

    failure_ns: int
    failure_row: int
    onset: np.ndarray
    shifts: Shifts
    r: np.ndarray
    lag_seconds: np.ndarray
    timing: np.ndarray
    factors: dict[str, np.ndarray]
    again: np.ndarray
    gone: np.ndarray


_TIMINGS: dict[str, Timing] = {"leading": "leading", "simultaneous": "simultaneous", "lagging": "lagging"}


def _tolerance(rows: int, config: CorrelateConfig) -> int:
    return max(2, math.ceil(config.timing_tolerance * rows))


def _timings(
    split: np.ndarray,
    failure_row: int,
    rows: int,
    config: CorrelateConfig,
    gone: np.ndarray,
    alerted_row: int | None = None,
) -> np.ndarray:
    """Leading, simultaneous or lagging. A change from the row of the alert on (when it fired after the
    failure) lags: the alert came first. A series gone at the failure never leads: its process died a
    reading or more before it was found gone."""
    tolerance = _tolerance(rows, config)
    after = split > failure_row + tolerance
    if alerted_row is not None and alerted_row > failure_row:
        after |= split >= alerted_row
    before = (split < failure_row - tolerance) & ~gone
    return np.where(before, "leading", np.where(after, "lagging", "simultaneous"))


def _evaluate(
    frame: WideFrame,
    failure_row: int,
    failure_at_ns: int,
    target: np.ndarray | None,
    config: CorrelateConfig,
    answered: np.ndarray | None = None,
    gone: np.ndarray | None = None,
    alerted_row: int | None = None,
) -> _Batch:
    n = frame.rows
    gone = np.zeros(len(frame.names), dtype=bool) if gone is None else gone
    min_size = min(max(2, math.ceil(config.segment_share * n)), n // 2)
    _, r_step, shifts, onset = evidence_in_blocks(frame.values, min_size, failure_row, answered)
    again = moved_again(
        frame.values if answered is None else answered, shifts, onset, failure_row, _tolerance(n, config)
    )
    onset[again] = failure_row
    step = _step_seconds(frame)
    if target is None:
        r, lag_seconds = r_step, (failure_at_ns - frame.times[onset]) / 1e9
    else:
        r, lag = lagged_correlation(frame.values, target, max(1, int(config.max_lag_share * n)))
        lag_seconds = lag * step
    timing = _timings(onset, failure_row, n, config, gone, alerted_row)
    resource = np.array([resource_of(name) is not None for name in frame.names], dtype=bool)
    headroom = np.array([measures_headroom(name) for name in frame.names], dtype=bool)
    usage_fell = resource & np.where(headroom, shifts.z > 0, shifts.z < 0) & ~gone
    magnitude = np.where(resource, materiality(shifts, config.material_change), 1.0)
    rose_at_failure = resource & ~usage_fell & (timing == "simultaneous") & (magnitude >= 1.0) & (np.abs(shifts.z) >= 3)
    factors = {
        "strength": strength(shifts, resource, config.z_cap),
        "direction": np.where(usage_fell, config.down_weight, 1.0),
        "timing": np.select(
            [
                timing == "lagging",
                (timing == "leading") & rival_at_failure(shifts, timing, r, usage_fell, magnitude, gone),
            ],
            [config.lagging_weight, config.leading_weight],
            1.0,
        ),
        "association": 0.5 + 0.5 * np.abs(r),
        "magnitude": magnitude,
        "symptom": symptom_weights(frame, resource, rose_at_failure, config.symptom_weight),
        "origin": origin(frame, shifts, timing, config.origin_power),
        "granger": np.ones(len(frame.names)),
    }
    return _Batch(failure_at_ns, failure_row, onset, shifts, r, lag_seconds, timing, factors, again, gone)


def _score(factors: dict[str, np.ndarray]) -> np.ndarray:
    score: np.ndarray = np.prod(np.vstack(list(factors.values())), axis=0)
    return score


def _granger_pass(
    frame: WideFrame, target: np.ndarray | None, batch: _Batch, config: CorrelateConfig
) -> dict[int, Granger]:
    if target is None:
        return {}
    order = np.argsort(-_score(batch.factors), kind="stable")
    found: dict[int, Granger] = {}
    lag = max(1, min(config.granger_max_lag, frame.rows // 10))
    near = _granger_rows(frame.rows, batch.failure_row, config.granger_rows)
    for j in order[: config.granger_top]:
        found[int(j)] = granger(frame.values[j, near], target[near], lag, config.granger_alpha)
        if found[int(j)].significant:
            batch.factors["granger"][j] = config.granger_weight
    return found


def _granger_rows(rows: int, failure_row: int, most: int) -> slice:
    """The ``most`` rows nearest the failure, three quarters of them before it."""
    start = max(0, min(failure_row, rows) - most * 3 // 4)
    return slice(start, min(rows, start + most))


def correlate_frame(
    frame: WideFrame, failure_at: datetime, *, target: str | None = None, config: CorrelateConfig = CorrelateConfig()
) -> CorrelationResult:
    """Rank every metric of ``frame`` as a suspect for the failure at ``failure_at``.

    The frame is prepared first (:func:`ops.correlate.frame.prepare_frame`);
    pass an already prepared frame to :func:`correlate_prepared` to keep it.

    Raises:
        CorrelateInputError: the failure is outside the data, the window is too short,
            the target is not a usable column, or no column varies.
    """
    return correlate_prepared(prepare_frame(frame, config.min_rows), failure_at, target=target, config=config)


def correlate_prepared(
    frame: WideFrame,
    failure_at: datetime,
    *,
    target: str | None = None,
    config: CorrelateConfig = CorrelateConfig(),
    alerted_at: datetime | None = None,
) -> CorrelationResult:
    """:func:`correlate_frame` on a frame that :func:`prepare_frame` returned.

    ``alerted_at``: when an alert fired on trouble that began at ``failure_at``; a series that began to
    move from then on is lagging (an effect of the alert or of what it set off)."""
    started = time.perf_counter()
    failure_row = ensure_failure_is_inside(frame, failure_at, config)
    ensure_window_is_long_enough(frame, failure_row, config)
    ensure_target_is_valid(frame, target)
    ensure_suspects_exist(frame, target)
    y = frame.values[frame.column(target)] if target else None
    suspects = born_late(
        frame.select(np.array([n != target for n in frame.names], dtype=bool)), failure_row, config.min_before
    )
    ensure_suspects_exist(suspects, None)
    gone = gone_at_failure(suspects, failure_row, _tolerance(frame.rows, config))
    suspects = read_as_nothing(suspects, gone)
    answered, sparse = idle_zeros(suspects)
    alerted_row = int(np.searchsorted(frame.times, failure_ns(alerted_at), side="left")) if alerted_at else None
    batch = _evaluate(suspects, failure_row, failure_ns(failure_at), y, config, answered, gone, alerted_row)
    tests = _granger_pass(suspects, y, batch, config)
    scores = _score(batch.factors)
    order = np.argsort(-scores, kind="stable")
    ranked = [
        _suspect(suspects, batch, int(j), float(scores[j]), target, tests.get(int(j)), config.short_before)
        for j in order
    ]
    for suspect, j in zip(ranked, order, strict=True):
        if sparse[j]:
            suspect.evidence.reasons.append(
                "sparse latency: its zeros are minutes without requests, left out of its baseline and level"
            )
    start, end = window_bounds(frame)
    return CorrelationResult(
        failure_at=failure_at,
        target=target,
        suspects=ranked,
        skipped=list(suspects.skipped),
        start=start,
        end=end,
        rows=frame.rows,
        series=len(suspects.names),
        seconds=time.perf_counter() - started,
    )


def _suspect(
    frame: WideFrame,
    batch: _Batch,
    j: int,
    score: float,
    target: str | None,
    test: Granger | None,
    short_before: int,
) -> Suspect:
    s = batch.shifts
    z = float(s.z[j])
    direction: Literal["up", "down", "flat"] = "flat" if z == 0 else ("up" if z > 0 else "down")
    offset = float(frame.times[batch.onset[j]] - batch.failure_ns) / 1e9
    if target is not None and test is None:
        test = Granger(tested=False, note="only the best suspects are tested")
    assert frame.rate is not None
    evidence = Evidence(
        z=_round(z),
        direction=direction,
        baseline=_round(float(s.baseline[j])),
        level=_round(float(s.level[j])),
        peak_z=_round(float(s.peak_z[j])),
        change_at=from_ns(int(frame.times[batch.onset[j]])),
        change_offset_seconds=round(offset, 3),
        timing=_TIMINGS[str(batch.timing[j])],
        correlation=Correlation(target or "failure", _round(float(batch.r[j])), round(float(batch.lag_seconds[j]), 3)),
        granger=test,
        rate=bool(frame.rate[j]),
        factors={k: round(float(v[j]), 4) for k, v in batch.factors.items()},
        reasons=[],
    )
    metric = frame.names[j]
    evidence.reasons.extend(reasons_for(metric, evidence))
    if batch.again[j]:
        evidence.reasons.append(
            "moved twice: once well before the failure (an earlier change), and again at it; "
            "the z is the move at the failure, against the rows since the first"
        )
    if batch.gone[j]:
        evidence.reasons.append(
            "stopped reporting at the failure: what it measured (a process, a worker) is gone, so it reads "
            "as nothing since, and its fall counts as a loss, not as a resource freed"
        )
    if batch.failure_row < short_before:
        evidence.reasons.append(
            f"short baseline: {batch.failure_row} rows before the failure (fewer than {short_before}); "
            "its median and spread are rough, so read the z with care"
        )
    return Suspect(
        metric=metric, score=round(score, 4), resource=resource_of(metric), labels=frame.labels[j], evidence=evidence
    )


def _round(value: float) -> float:
    return float(f"{value:.6g}") if math.isfinite(value) else 0.0
