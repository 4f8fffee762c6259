"""Alert transitions into incidents: firing opens or adds, resolving mitigates."""

from __future__ import annotations

from datetime import timedelta

from ops.alerts.events import AlertEvent, AlertStatus, dedup_key
from ops.incidents.db import transaction
from ops.incidents.models import Source, Status
from ops.incidents.service import ensure_incident, list_incidents
from ops.incidents.sink import IncidentSink
from tests.ops.incidents.factories import T0


def alert(status: AlertStatus, minutes: int = 0, **labels: str) -> AlertEvent:
    labels = labels or {"dataset": "orders", "environment": "prod"}
    return AlertEvent(dedup_key("quarantine-rate-spike", "sluice_quarantine_rate", labels), status,
                      "quarantine-rate-spike", "More rows quarantined than usual", "SEV3", "quarantine-rate-spike",
                      "sluice_quarantine_rate", labels, 0.2, 0.01, 0.0, 0.05, T0, T0 + timedelta(minutes=minutes))


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
