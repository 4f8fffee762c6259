"""The merged timeline of an incident: what the store, Prefect, the alerts and chaos drills saw.

Lines come from four places and keep their source:

* ``incident``: the incident's own timeline events (opened, repeats, transitions, notes);
* ``chaos``: timeline events whose kind starts with ``chaos`` (actions of a chaos drill);
* ``prefect``: the state history of the incident's flow run;
* ``alert``: transitions from ``<SLUICE_HOME>/alerts/events.jsonl`` with the incident's dedup key.

They are sorted by time; lines at the same instant keep the order above.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

from ops.alerts.events import AlertEvent, AlertStatus, JsonLinesSink
from ops.incidents.models import Incident, TimelineEvent
from ops.postmortems.models import EntrySource, StateHistory, TimelineEntry

CHAOS_PREFIX = "chaos"
_RANK = {EntrySource.CHAOS: 0, EntrySource.ALERT: 1, EntrySource.PREFECT: 2, EntrySource.INCIDENT: 3}


def events_path(home: Path) -> Path:
    """Where ``ops alerts check`` appends alert transitions."""
    return home / "alerts" / "events.jsonl"


def is_chaos(event: TimelineEvent) -> bool:
    return event.kind.lower().startswith(CHAOS_PREFIX)


def read_alert_events(home: Path) -> list[AlertEvent]:
    """Every alert transition recorded under ``home``, oldest first as written."""
    return JsonLinesSink(events_path(home)).read()


def alert_transitions(
    events: Iterable[AlertEvent], dedup_key: str, opened_at: datetime, until: datetime
) -> list[AlertEvent]:
    """The transitions of the alert behind an incident.

    An alert's dedup key is the same for every firing of a rule on a series,
    so earlier, unrelated firings share it. Kept: the last firing at or before
    ``opened_at`` (the one that opened the incident) and every transition of
    the key after it, up to ``until``.
    """
    mine = sorted((e for e in events if e.dedup_key == dedup_key), key=lambda e: e.at)
    start = next(
        (i for i in range(len(mine) - 1, -1, -1) if mine[i].status is AlertStatus.FIRING and mine[i].at <= opened_at),
        None,
    )
    if start is None:
        start = next((i for i, e in enumerate(mine) if e.at >= opened_at), len(mine))
    return [e for e in mine[start:] if e.at <= until]


def _incident_entry(event: TimelineEvent) -> TimelineEntry:
    source = EntrySource.CHAOS if is_chaos(event) else EntrySource.INCIDENT
    return TimelineEntry(
        at=event.at, source=source, kind=event.kind, text=event.text, origin=event.source, who=event.who
    )


def _alert_entry(event: AlertEvent) -> TimelineEntry:
    figures = [
        f"{name} {value:g}"
        for name, value in (("value", event.value), ("expected", event.expected))
        if value is not None
    ]
    detail = f" ({', '.join(figures)})" if figures else ""
    text = f"{event.status.value} [{event.severity}] {event.summary}{detail}"
    return TimelineEntry(
        at=event.at, source=EntrySource.ALERT, kind=event.status.value, text=text, origin=event.rule_id
    )


def _state_entries(history: StateHistory) -> list[TimelineEntry]:
    return [
        TimelineEntry(
            at=s.at,
            source=EntrySource.PREFECT,
            kind=s.type,
            text=s.name + (f": {s.message}" if s.message else ""),
            origin="flow run",
        )
        for s in history.states
    ]


def merge_timeline(incident: Incident, history: StateHistory, alerts: Sequence[AlertEvent]) -> list[TimelineEntry]:
    """One timeline from the incident's events, the flow run's states and the alert transitions."""
    entries = [_incident_entry(e) for e in incident.timeline]
    entries += _state_entries(history)
    entries += [_alert_entry(e) for e in alerts]
    return sorted(entries, key=lambda e: (e.at, _RANK[e.source]))
