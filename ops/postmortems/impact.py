"""Impact and response times of an incident, from the run records and what was seen when.

The rules are spelled out on :class:`~ops.postmortems.models.Impact` and
:class:`~ops.postmortems.models.Durations`; the rendered postmortem repeats
them so a reader knows what each figure means.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.engine import Connection

from ops.alerts.events import AlertEvent, AlertStatus
from ops.incidents.models import Incident, Severity
from ops.postmortems.models import Durations, Evidence, Impact, StateHistory
from ops.postmortems.timeline import is_chaos
from sluice.runs.metastore import finished_runs, get_run
from sluice.runs.records import RunReport

FAILED = "failed"
COMPLETED = "completed"
SLA_SEVERITIES = frozenset({Severity.SEV1, Severity.SEV2})


def window_end(incident: Incident, now: datetime) -> datetime:
    """The end of the incident's window: when it was resolved, or ``now`` while it is open."""
    return incident.resolved_at or now


def responded_at(incident: Incident) -> datetime | None:
    """When someone first acted: acknowledged, or else mitigated or resolved without an acknowledgement."""
    stamps = [t for t in (incident.acknowledged_at, incident.mitigated_at, incident.resolved_at) if t is not None]
    return min(stamps) if stamps else None


def runs_for(conn: Connection, incident: Incident, until: datetime) -> list[RunReport]:
    """Runs of the incident's dataset running at any time in ``[opened_at, until]``, plus its own flow run.

    Runs still in progress have no outcome yet and are left out.
    """
    runs = {
        r.run_id: r
        for r in finished_runs(conn, since=incident.opened_at)
        if r.dataset == incident.dataset and r.started_at <= until
    }
    if incident.flow_run_id and incident.flow_run_id not in runs:
        own = get_run(conn, incident.flow_run_id)
        if own is not None and own.run_id == incident.flow_run_id and own.finished_at is not None:
            runs[own.run_id] = own
    return sorted(runs.values(), key=lambda r: r.started_at)


def sla_minutes_breached(incident: Incident, until: datetime) -> float:
    """SEV1/SEV2: minutes from opened to mitigated (to ``until`` while unmitigated); otherwise 0."""
    if incident.severity not in SLA_SEVERITIES:
        return 0.0
    end = incident.mitigated_at or until
    return max((end - incident.opened_at).total_seconds() / 60, 0.0)


def measure_impact(incident: Incident, runs: Sequence[RunReport], *, now: datetime) -> Impact:
    """Rows delayed, quarantined and reprocessed by ``runs``, and the SLA minutes breached."""
    until = window_end(incident, now)
    failed = [r for r in runs if r.status == FAILED]
    first_failure = min((r.started_at for r in failed), default=None)
    reruns = [r for r in runs if r.status == COMPLETED and first_failure is not None and r.started_at > first_failure]
    return Impact(
        dataset=incident.dataset,
        window_start=incident.opened_at,
        window_end=until,
        runs=len(runs),
        failed_runs=len(failed),
        rows_delayed=sum(r.rows_read for r in failed),
        rows_quarantined=sum(r.rows_quarantined for r in runs),
        rows_reprocessed=sum(r.rows_read for r in reruns),
        sla_minutes_breached=sla_minutes_breached(incident, until),
        run_ids=tuple(r.run_id for r in runs),
    )


def impact_unavailable(incident: Incident, reason: str, *, now: datetime) -> Impact:
    """An impact whose run figures are unknown, saying why; the SLA figure needs no runs."""
    until = window_end(incident, now)
    return Impact(
        dataset=incident.dataset,
        window_start=incident.opened_at,
        window_end=until,
        sla_minutes_breached=sla_minutes_breached(incident, until),
        unavailable=reason,
    )


def evidence(
    incident: Incident, runs: Sequence[RunReport], history: StateHistory, alerts: Sequence[AlertEvent]
) -> list[Evidence]:
    """Every sign of trouble at or before the incident opened, earliest first."""
    seen = [Evidence(incident.opened_at, f"{incident.ref} opened ({incident.source.value})")]
    seen += [
        Evidence(r.finished_at or r.started_at, f"run {r.run_id} of {r.dataset} failed")
        for r in runs
        if r.status == FAILED
    ]
    seen += [Evidence(s.at, f"flow run entered {s.name}") for s in history.states if s.is_failure]
    seen += [
        Evidence(a.started_at, f"condition of alert {a.rule_id} began")
        for a in alerts
        if a.status is AlertStatus.FIRING
    ]
    seen += [Evidence(e.at, f"chaos action: {e.text}") for e in incident.timeline if is_chaos(e)]
    return sorted((e for e in seen if e.at <= incident.opened_at), key=lambda e: e.at)


def _since_opened(incident: Incident, at: datetime | None) -> timedelta | None:
    return None if at is None else at - incident.opened_at


def measure_durations(
    incident: Incident, runs: Sequence[RunReport], history: StateHistory, alerts: Sequence[AlertEvent]
) -> Durations:
    """Detection time (opened minus the earliest evidence) and the times to acknowledge, mitigate, resolve."""
    first = evidence(incident, runs, history, alerts)[0]
    return Durations(
        first_evidence=first,
        detection=incident.opened_at - first.at,
        to_acknowledge=_since_opened(incident, responded_at(incident)),
        to_mitigate=_since_opened(incident, incident.mitigated_at),
        to_resolve=_since_opened(incident, incident.resolved_at),
    )
