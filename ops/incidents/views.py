"""Incidents as plain dataclasses for tables and ``--output json``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from ops.incidents.models import ActionItem, Incident, TimelineEvent


@dataclass(frozen=True)
class EventView:
    at: datetime
    kind: str
    source: str
    text: str
    who: str | None


@dataclass(frozen=True)
class ActionView:
    id: int
    incident: str
    type: str
    description: str
    owner: str
    due: date | None
    status: str
    tracker_url: str | None


@dataclass(frozen=True)
class IncidentView:
    id: str
    title: str
    severity: str
    status: str
    source: str
    environment: str
    is_drill: bool
    dedup_key: str
    signature: str
    occurrences: int
    flow_name: str | None
    deployment: str | None
    dataset: str | None
    flow_run_id: str | None
    flow_run_url: str | None
    runbook: str | None
    assignee: str | None
    opened_at: datetime
    last_seen_at: datetime
    acknowledged_at: datetime | None
    mitigated_at: datetime | None
    resolved_at: datetime | None


@dataclass(frozen=True)
class IncidentDetail(IncidentView):
    timeline: list[EventView]
    actions: list[ActionView]


def summary(i: Incident) -> IncidentView:
    return IncidentView(
        id=i.ref,
        title=i.title,
        severity=i.severity.value,
        status=i.status.value,
        source=i.source.value,
        environment=i.environment,
        is_drill=i.is_drill,
        dedup_key=i.dedup_key,
        signature=i.signature,
        occurrences=i.occurrences,
        flow_name=i.flow_name,
        deployment=i.deployment,
        dataset=i.dataset,
        flow_run_id=i.flow_run_id,
        flow_run_url=i.flow_run_url,
        runbook=i.runbook_id,
        assignee=i.assignee,
        opened_at=i.opened_at,
        last_seen_at=i.last_seen_at,
        acknowledged_at=i.acknowledged_at,
        mitigated_at=i.mitigated_at,
        resolved_at=i.resolved_at,
    )


def event_view(e: TimelineEvent) -> EventView:
    return EventView(e.at, e.kind, e.source, e.text, e.who)


def action_view(a: ActionItem) -> ActionView:
    return ActionView(
        a.id, f"INC-{a.incident_id}", a.type.value, a.description, a.owner, a.due, a.status, a.tracker_url
    )


def detail(i: Incident) -> IncidentDetail:
    base = summary(i)
    return IncidentDetail(
        **base.__dict__, timeline=[event_view(e) for e in i.timeline], actions=[action_view(a) for a in i.actions]
    )
