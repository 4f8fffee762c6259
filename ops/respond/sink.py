"""The alert sink of the incident store: a firing alert opens (or adds to) an incident; its resolution mitigates it.

Alert transitions carry a stable dedup key per rule and series, which
becomes the incident's dedup key, so an alert that fires, resolves and fires
again while its incident is open stays one incident. The rule's runbook is
linked as given; the incident's severity is the rule's.

A sink built with a :class:`DrillFlag` takes the alerts of a chaos drill's
own evaluation: their incidents are drill incidents (``is_drill``, source
``chaos-drill``), which never page unless ``SLUICE_CHAOS_PAGE=true``, and
their dedup keys live under ``drill-<id>/``, so a drill's alert never adds to
a real incident of the same rule and series, nor a real alert to the drill's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ops.alerts.events import AlertEvent, AlertStatus, dedup_prefix
from ops.errors import IncidentError, TransitionError
from ops.incidents.db import transaction
from ops.incidents.models import ONSET, Severity, Source, Status
from ops.incidents.service import (
    Trigger,
    open_incident_for,
    record,
    storable,
    transition,
)
from ops.respond.service import (
    announce_change,
    announce_opened,
    flush_notifications,
    raise_incident,
)

DRILL_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


def ensure_drill_id(value: str) -> str:
    """``value`` if it can name a drill in a dedup key (lower-case letters, digits, '-'), else ``IncidentError``."""
    if not isinstance(value, str) or not DRILL_ID.fullmatch(value):
        raise IncidentError(
            f"{value!r} is not a drill id",
            hint="drill ids are 1 to 64 lower-case letters, digits and '-', e.g. 3f9c2a1b7d4e",
        )
    return value


@dataclass(frozen=True)
class DrillFlag:
    """The chaos drill whose own alert evaluation raised the alerts a sink receives."""

    drill_id: str

    def __post_init__(self) -> None:
        ensure_drill_id(self.drill_id)

    def dedup_key(self, alert_key: str) -> str:
        """The incident dedup key of the drill's alert ``alert_key``: ``drill-<id>/<alert key>``."""
        return f"drill-{self.drill_id}/{alert_key}"

    def rule_prefix(self, rule_id: str | None = None) -> str:
        """What the dedup keys of the drill's alert incidents (of ``rule_id``, or of every rule) start with."""
        return self.dedup_key(dedup_prefix(rule_id) if rule_id else "")


def incident_key(event: AlertEvent, drill: DrillFlag | None = None) -> str:
    """The dedup key of the incident ``event`` opens or moves: the alert's own, or under the drill's."""
    return drill.dedup_key(event.dedup_key) if drill else event.dedup_key


def alert_trigger(event: AlertEvent, environment: str, drill: DrillFlag | None = None) -> Trigger:
    """The trigger of a firing alert; with ``drill``, a drill trigger (source ``chaos-drill``, ``is_drill``)."""
    labels = event.labels_text
    where = event.labels.get("dataset") or event.labels.get("host") or event.metric
    dataset, flow = event.labels.get("dataset"), event.labels.get("flow")
    found = Trigger(
        title=storable(f"{event.summary} ({where})", 300),
        severity=Severity(event.severity),
        source=Source.ALERT,
        dedup_key=event.dedup_key,
        environment=storable(event.labels.get("environment", environment), 40),
        text=storable(
            f"alert {event.rule_id} firing: {event.metric}{{{labels}}} = {event.value} "
            f"(expected {event.expected}, band {event.lower} … {event.upper})"
        ),
        at=event.at,
        signature=storable(f"alert={event.rule_id} metric={event.metric} labels={labels}"),
        dataset=storable(dataset, 200) if dataset else None,
        flow_name=storable(flow, 200) if flow else None,
        runbook_id=event.runbook,
    )
    if drill is None:
        return found
    return replace(
        found,
        source=Source.CHAOS_DRILL,
        is_drill=True,
        dedup_key=incident_key(event, drill),
        text=f"{found.text}; raised by drill {drill.drill_id}",
    )


class IncidentSink:
    """An :class:`~ops.alerts.events.AlertSink` writing to the incident store (drill incidents with ``drill``)."""

    def __init__(self, engine: Engine, environment: str, drill: DrillFlag | None = None) -> None:
        self.engine = engine
        self.environment = environment
        self.drill = drill

    def emit(self, event: AlertEvent) -> None:
        with transaction(self.engine) as session:
            self._apply(session, event)
        flush_notifications(self.engine)

    def _apply(self, session: Session, event: AlertEvent) -> None:
        if event.status is AlertStatus.FIRING:
            opened = raise_incident(session, alert_trigger(event, self.environment, self.drill))
            if opened.created and event.started_at < event.at:
                began = event.started_at.isoformat(timespec="seconds")
                text = f"trouble began: {event.metric} first anomalous at {began}, before the alert fired"
                record(session, opened.incident, ONSET, "alert", text, at=event.started_at)
            announce_opened(session, opened)
            return
        incident = open_incident_for(session, incident_key(event, self.drill))
        if incident is None:
            return
        text = f"alert {event.rule_id} resolved: {event.metric} = {event.value}"
        if incident.status in (Status.TRIGGERED, Status.ACKNOWLEDGED):
            try:
                transition(session, incident, Status.MITIGATED, at=event.at, text=text)
            except TransitionError:  # someone moved it meanwhile: the resolution is kept as a fact
                record(session, incident, "alert", "alert", text, at=event.at)
                return
            announce_change(session, incident, "mitigated", text)
        else:
            record(session, incident, "alert", "alert", text, at=event.at)
