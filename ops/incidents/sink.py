"""The alert sink of the incident store: a firing alert opens (or adds to) an incident; its resolution mitigates it.

Alert transitions carry a stable dedup key per rule and series, which
becomes the incident's dedup key, so an alert that fires, resolves and fires
again while its incident is open stays one incident. The rule's runbook is
linked as given; the incident's severity is the rule's.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ops.alerts.events import AlertEvent, AlertStatus
from ops.incidents.db import transaction
from ops.incidents.models import Severity, Source, Status
from ops.incidents.respond import announce_change, announce_opened, flush_notifications, raise_incident
from ops.incidents.service import Trigger, open_incident_for, record, transition


def alert_trigger(event: AlertEvent, environment: str) -> Trigger:
    labels = event.labels_text
    where = event.labels.get("dataset") or event.labels.get("host") or event.metric
    return Trigger(
        title=f"{event.summary} ({where})", severity=Severity(event.severity), source=Source.ALERT,
        dedup_key=event.dedup_key, environment=event.labels.get("environment", environment),
        text=f"alert {event.rule_id} firing: {event.metric}{{{labels}}} = {event.value} "
             f"(expected {event.expected}, band {event.lower} … {event.upper})",
        at=event.at, signature=f"alert={event.rule_id} metric={event.metric} labels={labels}",
        dataset=event.labels.get("dataset"), flow_name=event.labels.get("flow"), runbook_id=event.runbook)


class IncidentSink:
    """An :class:`~ops.alerts.events.AlertSink` that writes to the incident store."""

    def __init__(self, engine: Engine, environment: str) -> None:
        self.engine = engine
        self.environment = environment

    def emit(self, event: AlertEvent) -> None:
        with transaction(self.engine) as session:
            self._apply(session, event)
        flush_notifications(self.engine)

    def _apply(self, session: Session, event: AlertEvent) -> None:
        if event.status is AlertStatus.FIRING:
            announce_opened(session, raise_incident(session, alert_trigger(event, self.environment)))
            return
        incident = open_incident_for(session, event.dedup_key)
        if incident is None:
            return
        text = f"alert {event.rule_id} resolved: {event.metric} = {event.value}"
        if incident.status in (Status.TRIGGERED, Status.ACKNOWLEDGED):
            transition(session, incident, Status.MITIGATED, at=event.at, text=text)
            announce_change(session, incident, "mitigated", text)
        else:
            record(session, incident, "alert", "alert", text, at=event.at)
