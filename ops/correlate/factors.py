"""The factors of a suspect's score that weigh one series against the others: see :mod:`ops.correlate.rank`.

Each takes the evidence of every series at once and returns one weight (or
flag) per series.
"""

from __future__ import annotations

import numpy as np

from ops.correlate.models import Skipped, WideFrame
from ops.correlate.resources import measures_latency, service_of
from ops.correlate.stats import ONSET_SIGMAS, Shifts, robust_shifts

SECOND_MOVE_ROWS = 10
"""A second move at the failure is measured against at least this many rows before it (when there are)."""
RIVAL_R = 0.8
"""A step at the failure correlates with it at least this much (a drifting series, a walk, does not)."""
GONE_LEAD_ROWS = 5
"""A watched process is found gone at the reading after it died, and the alert on it fires a reading or more
later: a series that stopped up to this many rows before the failure stopped at it."""
IDLE_SHARE = 0.25
"""A latency that is zero in at least this share of the rows is sparse: its zeros are idle minutes."""


def idle_zeros(frame: WideFrame) -> tuple[np.ndarray | None, np.ndarray]:
    """Which series are sparse latencies, and the values with their zeros as NaN (None when there is none):
    a minute without requests has no latency, not a zero one, so its shift is read on answered minutes."""
    zeros = (frame.values == 0).mean(axis=1) if frame.rows else np.zeros(len(frame.names))
    latency = np.array([measures_latency(n) for n in frame.names], dtype=bool)
    sparse = latency & (zeros >= IDLE_SHARE) & (zeros < 1.0)
    if not sparse.any():
        return None, sparse
    answered = frame.values.copy()
    answered[sparse] = np.where(answered[sparse] == 0, np.nan, answered[sparse])
    return answered, sparse


def moved_again(x: np.ndarray, shifts: Shifts, onset: np.ndarray, failure_row: int, tolerance: int) -> np.ndarray:
    """Series that began to move well before the failure *and* moved again at it (an earlier incident, then
    the fault): their shift becomes the one at the failure, against the rows since their first move (at most
    as many before the failure as there are after it, and at least ``SECOND_MOVE_ROWS``)."""
    early = np.flatnonzero(onset < failure_row - tolerance)
    again = np.zeros(len(x), dtype=bool)
    if not len(early):
        return again
    first = max(0, failure_row - max(x.shape[1] - failure_row, SECOND_MOVE_ROWS))
    second = robust_shifts(
        x[early, first:], np.full(len(early), failure_row - first), np.maximum(onset[early], first) - first
    )
    moved = np.abs(second.z) >= 2 * ONSET_SIGMAS
    for name in Shifts.__dataclass_fields__:
        getattr(shifts, name)[early[moved]] = getattr(second, name)[moved]
    again[early[moved]] = True
    return again


def rival_at_failure(
    shifts: Shifts,
    timing: np.ndarray,
    r: np.ndarray,
    usage_fell: np.ndarray,
    magnitude: np.ndarray,
    gone: np.ndarray | None = None,
) -> bool:
    """Whether some series stepped at the failure itself: far off its baseline (twice the onset's sigmas),
    in step with the failure (|r| >= ``RIVAL_R``, a clean step), a material rise for a resource; or stopped
    reporting at it (``gone``: a process died there, however its usage moved before). Only then is a change
    long before the failure an earlier incident rather than a cause the failure followed."""
    stepped = (timing == "simultaneous") & (np.abs(shifts.z) >= 2 * ONSET_SIGMAS) & (np.abs(r) >= RIVAL_R)
    died = (timing == "simultaneous") & gone if gone is not None else np.zeros(len(r), dtype=bool)
    return bool(np.any((stepped & ~usage_fell & (magnitude >= 1.0)) | died))


def strength(shifts: Shifts, resource: np.ndarray, cap: float) -> np.ndarray:
    """``log10(1 + |z|)``, with ``|z|`` capped at ``cap`` for a symptom (no resource) whose baseline sat
    still (no MAD: a sparse or near-zero latency): its z rests on a floor, not on its noise. A resource
    that sat still (memory to the page) keeps its z; ``magnitude`` discounts its small moves."""
    z = np.abs(shifts.z)
    strength: np.ndarray = np.log10(1.0 + np.where(shifts.still & ~resource, np.minimum(z, cap), z))
    return strength


def origin(frame: WideFrame, shifts: Shifts, timing: np.ndarray, power: float) -> np.ndarray:
    """For a latency that rose at the failure: ``(its rise as a share of its baseline / the largest such
    share) ** power``, else 1. A caller's latency includes its callee's, so a delay in the callee raises
    both by about as much, and the callee's by the larger share of its smaller baseline."""
    latency = np.array([measures_latency(n) for n in frame.names], dtype=bool)
    rose = latency & (timing == "simultaneous") & (shifts.z >= ONSET_SIGMAS) & (shifts.baseline > 0)
    if not rose.any():
        return np.ones(len(frame.names))
    share = np.where(rose, (shifts.level - shifts.baseline) / np.where(rose, shifts.baseline, 1.0), 0.0)
    weight: np.ndarray = np.where(rose, (share / share.max()) ** power, 1.0)
    return weight


def symptom_weights(frame: WideFrame, resource: np.ndarray, rose: np.ndarray, weight: float) -> np.ndarray:
    """``weight`` for a non-resource series (latency, load) of a service one of whose own resources rose
    at the failure, else 1: when both moved, the resource is the cause and the symptom its effect."""
    services = [service_of(name, labels) for name, labels in zip(frame.names, frame.labels, strict=True)]
    strained = {services[j] for j in np.flatnonzero(rose)}
    return np.array([weight if (not resource[j] and services[j] in strained) else 1.0 for j in range(len(services))])


def materiality(shifts: Shifts, material: float) -> np.ndarray:
    """``min(1, relative change / material)``: 1 for a change of at least ``material`` of the baseline.

    Linear, not a square root: the strength is the log of a z that a series
    still to the page can push into the thousands, so a weaker discount let a
    host's memory that grew by 1 % outrank a CPU hog.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.abs(shifts.level - shifts.baseline) / np.abs(shifts.baseline)
    relative = np.where(np.isfinite(relative), relative, 1.0)  # a zero baseline: any change is material
    return np.minimum(1.0, relative / material)


def gone_at_failure(frame: WideFrame, failure_row: int, tolerance: int) -> np.ndarray:
    """Series that stopped reporting at the failure (their last value within ``tolerance`` rows after it, or
    ``max(tolerance, GONE_LEAD_ROWS)`` before it) while the window goes on for more than ``tolerance`` rows:
    what reported them (a worker process, a host) is gone."""
    assert frame.ended is not None
    ended = frame.ended
    lead = max(tolerance, GONE_LEAD_ROWS)
    near = (ended >= failure_row - lead) & (ended <= failure_row + tolerance)
    gone: np.ndarray = near & (ended < frame.rows - tolerance)
    return gone


def born_late(frame: WideFrame, failure_row: int, min_before: int) -> WideFrame:
    """``frame`` without the series that began reporting fewer than ``min_before`` rows before the failure
    (a worker started to replace a killed one, say), each listed in ``skipped``: with no values of their
    own before it there is no baseline to measure a change from, only the first value filled back."""
    assert frame.began is not None
    late = frame.began > failure_row - min_before
    if not late.any():
        return frame
    kept = frame.select(~late)
    kept.skipped.extend(
        Skipped(
            frame.names[j],
            f"began reporting {failure_row - int(frame.began[j])} row(s) before the failure "
            f"(after it if negative): no baseline of its own",
        )
        for j in np.flatnonzero(late)
    )
    return kept


def read_as_nothing(frame: WideFrame, gone: np.ndarray) -> WideFrame:
    """``frame`` with each gone series at zero from its last value on: a process that is gone uses nothing,
    so its memory and CPU fall to nothing rather than holding their last reading."""
    if not gone.any():
        return frame
    assert frame.ended is not None
    values = frame.values.copy()
    after = np.arange(frame.rows)[None, :] >= frame.ended[:, None]
    values[gone[:, None] & after] = 0.0
    return WideFrame(
        frame.times, frame.names, values, frame.labels, frame.rate, frame.skipped, frame.ended, frame.began
    )
