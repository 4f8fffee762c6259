"""Alert transitions into incidents: firing opens or adds, resolving mitigates; a drill's alerts stay drills."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

from ops.alerts.events import AlertEvent, AlertStatus, dedup_key
from ops.errors import IncidentError
from ops.incidents.db import open_engine, transaction
from ops.incidents.models import ONSET, Source, Status
from ops.incidents.service import IncidentFilter, ensure_incident, list_incidents
from ops.notify import list_notifications
from ops.respond.sink import DrillFlag, IncidentSink, alert_trigger
from tests.ops.alerts.factories import alert_event
from tests.ops.incidents.factories import T0
from tests.standins.pagerduty_slack import FakeService, slack_ok


def alert(status: AlertStatus, minutes: int = 0, began: int = 0, **labels: str) -> AlertEvent:
    """An alert event ``minutes`` after T0 whose trouble began ``began`` minutes after T0."""
    labels = labels or {"dataset": "orders", "environment": "prod"}
    return AlertEvent(
        dedup_key("quarantine-rate-spike", "sluice_quarantine_rate", labels),
        status,
        "quarantine-rate-spike",
        "More rows quarantined than usual",
        "SEV3",
        "quarantine-rate-spike",
        "sluice_quarantine_rate",
        labels,
        0.2,
        0.01,
        0.0,
        0.05,
        T0 + timedelta(minutes=began),
        T0 + timedelta(minutes=minutes),
    )


def test_firing_opens_an_incident_with_the_rules_runbook_and_resolving_mitigates_it(incident_engine) -> None:
    sink = IncidentSink(incident_engine, "dev")
    sink.emit(alert(AlertStatus.FIRING))
    sink.emit(alert(AlertStatus.RESOLVED, 30))
    with transaction(incident_engine) as session:
        (incident,) = list_incidents(session)
        incident = ensure_incident(session, incident.id)
    assert incident.source is Source.ALERT and incident.environment == "prod"
    assert incident.runbook_id == "quarantine-rate-spike" and incident.status is Status.MITIGATED
    assert incident.mitigated_at == T0 + timedelta(minutes=30)
    assert "alert=quarantine-rate-spike" in incident.signature


def test_an_alert_whose_trouble_began_earlier_puts_its_onset_first_on_the_timeline(incident_engine) -> None:
    sink = IncidentSink(incident_engine, "dev")
    sink.emit(alert(AlertStatus.FIRING, minutes=5))
    sink.emit(alert(AlertStatus.RESOLVED, minutes=10))
    sink.emit(alert(AlertStatus.FIRING, minutes=20, began=15))  # a refiring adds no second onset
    with transaction(incident_engine) as session:
        (incident,) = list_incidents(session)
        timeline = ensure_incident(session, incident.id).timeline

    onsets = [e for e in timeline if e.kind == ONSET]
    assert [(e.at, e.source) for e in onsets] == [(T0, "alert")]
    assert timeline[0].kind == ONSET and "sluice_quarantine_rate first anomalous" in timeline[0].text
    assert incident.opened_at == T0 + timedelta(minutes=5)


def test_an_alert_that_fired_as_its_trouble_began_has_no_onset_entry(incident_engine) -> None:
    IncidentSink(incident_engine, "dev").emit(alert(AlertStatus.FIRING))
    with transaction(incident_engine) as session:
        (incident,) = list_incidents(session)
        assert ONSET not in {e.kind for e in ensure_incident(session, incident.id).timeline}


def test_refiring_after_mitigation_is_the_same_incident_triggered_again(incident_engine) -> None:
    sink = IncidentSink(incident_engine, "dev")
    for status, minutes in ((AlertStatus.FIRING, 0), (AlertStatus.RESOLVED, 10), (AlertStatus.FIRING, 20)):
        sink.emit(alert(status, minutes))
    with transaction(incident_engine) as session:
        (incident,) = list_incidents(session)
    assert incident.status is Status.TRIGGERED and incident.occurrences == 2


def test_each_series_is_its_own_incident(incident_engine) -> None:
    sink = IncidentSink(incident_engine, "dev")
    sink.emit(alert(AlertStatus.FIRING, dataset="orders"))
    sink.emit(alert(AlertStatus.FIRING, dataset="customers"))
    with transaction(incident_engine) as session:
        assert len(list_incidents(session)) == 2


@pytest.fixture()
def sqlite_engine(tmp_path):
    return open_engine(f"sqlite:///{tmp_path / 'incidents.db'}")


@pytest.fixture()
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeService]:
    """A local Slack API that records every message: what would have paged someone."""
    service = FakeService(slack_ok()).start()
    monkeypatch.setenv("SLUICE_SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("SLUICE_SLACK_CHANNEL", "C0INCIDENTS")
    monkeypatch.setenv("SLUICE_SLACK_API_URL", f"{service.url}/api/")
    monkeypatch.delenv("SLUICE_CHAOS_PAGE", raising=False)
    yield service
    service.stop()


def test_a_drill_alert_opens_a_drill_incident_apart_from_the_real_one(incident_engine) -> None:
    drill = DrillFlag("3f9c2a1b7d4e")
    IncidentSink(incident_engine, "staging").emit(alert_event(T0))
    IncidentSink(incident_engine, "staging", drill).emit(alert_event(T0))
    IncidentSink(incident_engine, "staging", drill).emit(
        alert_event(T0 + timedelta(minutes=5), status=AlertStatus.RESOLVED)
    )
    with transaction(incident_engine) as session:
        real = list_incidents(session, IncidentFilter(sources=[Source.ALERT]))
        drills = list_incidents(session, IncidentFilter(sources=[Source.CHAOS_DRILL]))
    assert [(i.is_drill, i.status, i.occurrences) for i in real] == [(False, Status.TRIGGERED, 1)]
    (ours,) = drills
    assert ours.is_drill and ours.status is Status.MITIGATED and ours.runbook_id == "quarantine-rate-spike"
    assert ours.dedup_key == f"drill-3f9c2a1b7d4e/{real[0].dedup_key}"
    assert ours.dedup_key.startswith(drill.rule_prefix("quarantine-rate-high"))


def test_the_drill_trigger_keeps_the_alerts_title_runbook_and_severity() -> None:
    plain = alert_trigger(alert_event(T0), "staging")
    flagged = alert_trigger(alert_event(T0), "staging", DrillFlag("3f9c2a1b7d4e"))
    assert (flagged.source, flagged.is_drill, plain.source, plain.is_drill) == (
        Source.CHAOS_DRILL,
        True,
        Source.ALERT,
        False,
    )
    assert (flagged.title, flagged.runbook_id, flagged.severity, flagged.signature) == (
        plain.title,
        plain.runbook_id,
        plain.severity,
        plain.signature,
    )
    assert flagged.text.endswith("raised by drill 3f9c2a1b7d4e")


def test_a_drill_alert_never_pages_unless_drills_may_page(sqlite_engine, slack, monkeypatch) -> None:
    drill_sink = IncidentSink(sqlite_engine, "staging", DrillFlag("3f9c2a1b7d4e"))
    drill_sink.emit(alert_event(T0, dataset="orders"))
    with transaction(sqlite_engine) as session:
        assert list_notifications(session) == []
    assert slack.requests == []

    monkeypatch.setenv("SLUICE_CHAOS_PAGE", "true")
    drill_sink.emit(alert_event(T0, dataset="customers"))
    # One bounded attempt runs inline; on a loaded machine the background deliverer sends it instead.
    deadline = time.monotonic() + 30
    while not slack.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(slack.requests) == 1 and "[DRILL]" in json.dumps(slack.bodies()[0])


@pytest.mark.parametrize("drill_id", ["", "Drill 1", "a/b", "x" * 65])
def test_a_drill_id_that_cannot_live_in_a_dedup_key_is_refused(drill_id) -> None:
    with pytest.raises(IncidentError, match="is not a drill id"):
        DrillFlag(drill_id)
