"""What a postmortem is made of: the facts Sluice gathers about an incident.

Every type here is a frozen dataclass that holds plain values (no database
rows), so the facts can be rendered, compared in tests and printed as JSON.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta


class EntrySource(enum.StrEnum):
    """Where a timeline line comes from."""

    INCIDENT = "incident"
    PREFECT = "prefect"
    ALERT = "alert"
    CHAOS = "chaos"


@dataclass(frozen=True)
class TimelineEntry:
    """One line of the merged timeline.

    ``source`` says which system saw it; ``origin`` refines it (the incident
    event's own source, such as ``ops`` or ``flow-failure``, or the alert rule).
    """

    at: datetime
    source: EntrySource
    kind: str
    text: str
    origin: str = ""
    who: str | None = None


@dataclass(frozen=True)
class FlowRunState:
    """One state of a Prefect flow run, as the API recorded it."""

    at: datetime
    type: str
    name: str
    message: str = ""

    @property
    def is_failure(self) -> bool:
        return self.type in {"FAILED", "CRASHED"}


@dataclass(frozen=True)
class StateHistory:
    """The state history of the incident's flow run, or why it could not be read."""

    flow_run_id: str | None
    states: tuple[FlowRunState, ...] = ()
    unavailable: str = ""

    @property
    def available(self) -> bool:
        return not self.unavailable


@dataclass(frozen=True)
class Impact:
    """Figures from the run records of the incident's dataset while it was open.

    The rules (also stated in the rendered document):

    * runs considered: runs of the dataset that were running at any time in
      ``[window_start, window_end]``, plus the incident's own flow run;
    * ``rows_delayed``: rows read by the runs that failed (their output is not
      trusted until a rerun lands it);
    * ``rows_quarantined``: rows the runs considered sent to the quarantine;
    * ``rows_reprocessed``: rows read by completed runs that started after the
      first failed run (the reruns);
    * ``sla_minutes_breached``: for SEV1 and SEV2, minutes from opened to
      mitigated (to ``window_end`` while unmitigated); 0 for SEV3 and SEV4.
    """

    dataset: str | None
    window_start: datetime
    window_end: datetime
    runs: int = 0
    failed_runs: int = 0
    rows_delayed: int = 0
    rows_quarantined: int = 0
    rows_reprocessed: int = 0
    sla_minutes_breached: float = 0.0
    run_ids: tuple[str, ...] = ()
    unavailable: str = ""


@dataclass(frozen=True)
class Evidence:
    """A sign that something was wrong, with when it was seen."""

    at: datetime
    what: str


@dataclass(frozen=True)
class Durations:
    """How quickly the incident was detected, acknowledged, mitigated and resolved.

    ``detection`` is ``opened_at`` minus the earliest evidence at or before it
    (a failed run, a failed flow-run state, the start of the alert's condition
    or a chaos action); the others are measured from ``opened_at`` and are
    ``None`` until the incident reaches that stage.
    """

    first_evidence: Evidence
    detection: timedelta
    to_acknowledge: timedelta | None
    to_mitigate: timedelta | None
    to_resolve: timedelta | None


@dataclass(frozen=True)
class PostmortemFacts:
    """Everything Sluice knows about an incident that goes into its postmortem."""

    generated_at: datetime
    timeline: tuple[TimelineEntry, ...]
    history: StateHistory
    impact: Impact
    durations: Durations
    alert_rules: tuple[str, ...] = ()
