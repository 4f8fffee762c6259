"""The figures of an incident report, as frozen dataclasses that print as JSON."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ops.postmortems.actions import ActionSummary


@dataclass(frozen=True)
class DurationStats:
    """Mean and median of some durations, in minutes; None when there are none."""

    count: int
    mean_minutes: float | None
    median_minutes: float | None

    @classmethod
    def of(cls, durations: Sequence[timedelta]) -> DurationStats:
        minutes = [d.total_seconds() / 60 for d in durations]
        if not minutes:
            return cls(0, None, None)
        return cls(len(minutes), statistics.fmean(minutes), statistics.median(minutes))


@dataclass(frozen=True)
class RepeatOffender:
    """Incidents opened again and again for one dedup key, or for one failure signature across keys."""

    by: str
    key: str
    incidents: int
    occurrences: int
    refs: tuple[str, ...]
    first_opened_at: datetime
    last_opened_at: datetime


@dataclass(frozen=True)
class Report:
    """Incidents opened in ``[since, until]`` and what they say about the response.

    * ``mtta``: time to acknowledge, opened to the first of acknowledged,
      mitigated or resolved, over the incidents that got any response;
    * ``mttr``: time to resolve, opened to resolved, over resolved incidents;
    * ``by_severity``/``by_source``/``by_flow``: incidents opened;
    * ``repeat_offenders``: dedup keys (or failure signatures spanning several
      keys) with two or more incidents opened in the period;
    * ``overdue_actions``: every open action item due before today, whatever
      the age of its incident.
    """

    since: datetime
    until: datetime
    drills_included: bool
    incidents: int
    open_incidents: int
    mtta: DurationStats
    mttr: DurationStats
    by_severity: dict[str, int]
    by_source: dict[str, int]
    by_flow: dict[str, int]
    repeat_offenders: tuple[RepeatOffender, ...]
    overdue_actions: tuple[ActionSummary, ...]
