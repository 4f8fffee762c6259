"""Whether a window holds enough history around the failure, and what to do when it does not, in the command's terms.

The ranking needs ``min_rows`` rows with ``min_before`` of them before the
failure (:class:`~ops.correlate.models.CorrelateConfig`), and the failure
inside the data. :func:`history_problem` says what a frame lacks;
:func:`history_hint` turns it into an option to add (``--before 45m``) or
into what to keep running, never into raw seconds.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from ops.correlate.models import CorrelateConfig, WideFrame
from ops.metrics.models import from_ns, to_ns
from ops.metrics.timerange import duration_text


@dataclass(frozen=True)
class HistoryProblem:
    """What a window lacks: a sentence for the message, and the rows (and their span) still needed before it."""

    reason: str
    rows_short: int
    step_seconds: float
    data_starts: datetime | None


def step_seconds(frame: WideFrame) -> float:
    return float(np.median(np.diff(frame.times))) / 1e9 if frame.rows > 1 else 0.0


def history_problem(frame: WideFrame, failure_at: datetime, config: CorrelateConfig) -> HistoryProblem | None:
    """None when the ranking can work on ``frame``; else what is missing (no series, failure outside, too few rows)."""
    if frame.rows == 0:
        return HistoryProblem("the window has no rows", 0, 0.0, None)
    at, step = to_ns(failure_at), step_seconds(frame)
    first, last = from_ns(int(frame.times[0])), from_ns(int(frame.times[-1]))
    if at > int(frame.times[-1]) + int(config.failure_grace_seconds * 1e9):
        return HistoryProblem(f"the newest sample ({last.isoformat()}) is long before the failure", 0, step, first)
    if at <= int(frame.times[0]):
        return HistoryProblem(f"the oldest sample ({first.isoformat()}) is after the failure", 0, step, first)
    failure_row = int(np.searchsorted(frame.times, at, side="left"))
    if failure_row < config.min_before or frame.rows < config.min_rows:
        short = max(config.min_before - failure_row, config.min_rows - frame.rows, 1)
        return HistoryProblem(
            f"too short a window: {frame.rows} rows, {failure_row} before the failure; correlation needs at least "
            f"{config.min_rows} rows with {config.min_before} before the failure",
            short,
            step,
            first,
        )
    if not frame.names:
        return HistoryProblem(f"no series varies in the window ({_skipped_text(frame)})", 0, step, first)
    return None


def _skipped_text(frame: WideFrame) -> str:
    """How many columns were left out, by why: ``9 too sparse, 2 constant``."""
    kinds = Counter(s.reason.split(":", 1)[0] for s in frame.skipped)
    return ", ".join(f"{n} {kind}" for kind, n in kinds.most_common()) or "none read"


def history_hint(problem: HistoryProblem, window_start: datetime | None, before: timedelta | None) -> str:
    """What to do about ``problem``: a longer ``--before`` when the store holds more, else keep sampling."""
    keep = (
        "keep the sampler service running (`ops metrics sampler status`; `make run` starts it) "
        "so that failures have history behind them"
    )
    if problem.rows_short == 0 or problem.step_seconds <= 0:
        return keep
    span = problem.rows_short * problem.step_seconds
    per = duration_text(problem.step_seconds)
    more = f"about {problem.rows_short} more rows: {duration_text(span)} at one row per {per}"
    if before is None:
        return f"the data needs {more} before the failure"
    held_from = problem.data_starts
    if (
        window_start is not None
        and held_from is not None
        and held_from - window_start > timedelta(seconds=problem.step_seconds)
    ):
        return f"the store holds these series only from {held_from.isoformat()} ({more} needed); {keep}"
    return f"add --before {duration_text(before.total_seconds() + span)} ({more})"
