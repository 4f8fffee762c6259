"""The merged timeline: which alert transitions belong to an incident, and the order of every line."""

from __future__ import annotations

from datetime import timedelta

from ops.alerts.events import AlertStatus
from ops.incidents.db import transaction
from ops.postmortems.models import EntrySource, FlowRunState, StateHistory
from ops.postmortems.timeline import (
    alert_transitions,
    merge_timeline,
    read_alert_events,
)
from tests.ops.incidents.factories import T0
from tests.ops.postmortems.factories import (
    KEY,
    alert,
    minutes,
    scripted_alerts,
    scripted_incident,
    write_alerts,
)


def test_only_the_alert_that_opened_the_incident_and_its_later_transitions_are_kept():
    kept = alert_transitions(scripted_alerts(), KEY, T0, minutes(40))

    assert [(e.status, e.at) for e in kept] == [
        (AlertStatus.FIRING, minutes(-0.5)),
        (AlertStatus.RESOLVED, minutes(35)),
    ]


def test_without_a_firing_before_opening_the_transitions_start_at_the_opening():
    events = [alert(AlertStatus.RESOLVED, minutes(-10)), alert(AlertStatus.FIRING, minutes(1))]

    kept = alert_transitions(events, KEY, T0, minutes(40))

    assert [e.at for e in kept] == [minutes(1)]


def test_alert_events_are_read_from_the_jsonl_history(tmp_path):
    write_alerts(tmp_path, scripted_alerts())

    assert read_alert_events(tmp_path) == scripted_alerts()
    assert read_alert_events(tmp_path / "elsewhere") == []


def test_the_timeline_merges_every_source_in_time_order(incident_engine):
    history = StateHistory(
        "run-a",
        (
            FlowRunState(minutes(-2), "RUNNING", "Running"),
            FlowRunState(minutes(-1.3), "FAILED", "Failed", "source file vanished"),
        ),
    )
    alerts = alert_transitions(scripted_alerts(), KEY, T0, minutes(40))
    with transaction(incident_engine) as session:
        incident = scripted_incident(session)
        timeline = merge_timeline(incident, history, alerts)

    assert [(e.at - T0, e.source, e.kind) for e in timeline] == [
        (timedelta(minutes=-4), EntrySource.CHAOS, "chaos-inject"),
        (timedelta(minutes=-2), EntrySource.PREFECT, "RUNNING"),
        (timedelta(minutes=-1.3), EntrySource.PREFECT, "FAILED"),
        (timedelta(minutes=-0.5), EntrySource.ALERT, "firing"),
        (timedelta(0), EntrySource.INCIDENT, "opened"),
        (timedelta(minutes=3), EntrySource.INCIDENT, "acknowledged"),
        (timedelta(minutes=5), EntrySource.INCIDENT, "note"),
        (timedelta(minutes=12), EntrySource.INCIDENT, "mitigated"),
        (timedelta(minutes=35), EntrySource.ALERT, "resolved"),
        (timedelta(minutes=40), EntrySource.INCIDENT, "resolved"),
    ]
    assert timeline[2].text == "Failed: source file vanished"
    assert timeline[3].origin == "rows-low" and "(value 12, expected 400)" in timeline[3].text
    assert timeline[6].who == "ana"


def test_lines_at_the_same_instant_keep_the_source_order(incident_engine):
    history = StateHistory("run-a", (FlowRunState(T0, "FAILED", "Failed"),))
    with transaction(incident_engine) as session:
        incident = scripted_incident(session)
        timeline = merge_timeline(incident, history, [alert(AlertStatus.FIRING, T0)])

    at_open = [e.source for e in timeline if e.at == T0]
    assert at_open == [EntrySource.ALERT, EntrySource.PREFECT, EntrySource.INCIDENT]
