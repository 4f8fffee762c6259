"""The incident store and lifecycle on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ops.errors import IncidentError, TransitionError
from ops.incidents.db import transaction
from ops.incidents.models import Severity, Status
from ops.incidents.service import (
    IncidentFilter,
    assign,
    ensure_incident,
    list_incidents,
    note,
    transition,
    trigger,
)
from tests.ops.incidents.factories import T0, failure


def test_a_storm_of_failures_with_one_cause_is_one_incident(incident_engine) -> None:
    with transaction(incident_engine) as session:
        results = [trigger(session, failure(n)) for n in range(100)]
    assert [r.created for r in results].count(True) == 1
    with transaction(incident_engine) as session:
        (incident,) = list_incidents(session)
        incident = ensure_incident(session, incident.ref)
        assert incident.occurrences == 100
        assert incident.last_seen_at == T0 + timedelta(seconds=297)
        assert [e.kind for e in incident.timeline] == ["opened"] + ["repeat"] * 99


def test_a_resolved_incident_stays_closed_and_a_new_failure_opens_another(incident_engine) -> None:
    with transaction(incident_engine) as session:
        first = trigger(session, failure(0)).incident
        transition(session, first, Status.RESOLVED, who="ana")
        second = trigger(session, failure(1))
    assert second.created and second.incident.id != first.id
    assert first.resolved_at is not None and first.mitigated_at == first.resolved_at


def test_lifecycle_transitions_are_stamped_and_recorded(incident_engine) -> None:
    with transaction(incident_engine) as session:
        incident = trigger(session, failure()).incident
        transition(session, incident, Status.ACKNOWLEDGED, who="ana", at=T0 + timedelta(minutes=2))
        transition(session, incident, Status.MITIGATED, who="ana", at=T0 + timedelta(minutes=9))
        assign(session, incident, "bo", who="ana")
        note(session, incident, "rolled back the source change", who="bo")
        ref = incident.ref
    with transaction(incident_engine) as session:
        incident = ensure_incident(session, ref)
        assert incident.status is Status.MITIGATED and incident.assignee == "bo"
        assert incident.acknowledged_at == T0 + timedelta(minutes=2)
        assert [e.kind for e in incident.timeline] == ["opened", "acknowledged", "mitigated", "assign", "note"]


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ((Status.RESOLVED,), Status.ACKNOWLEDGED),
        ((Status.ACKNOWLEDGED,), Status.TRIGGERED),
        ((Status.ACKNOWLEDGED,), Status.ACKNOWLEDGED),
    ],
)
def test_bad_transitions_are_refused_with_what_is_allowed(incident_engine, path, target) -> None:
    with transaction(incident_engine) as session:
        incident = trigger(session, failure()).incident
        for step in path:
            transition(session, incident, step)
        with pytest.raises(TransitionError) as info:
            transition(session, incident, target)
    assert incident.ref in str(info.value.args[0])


def test_a_mitigated_incident_that_fails_again_is_triggered_again(incident_engine) -> None:
    with transaction(incident_engine) as session:
        incident = trigger(session, failure(0)).incident
        transition(session, incident, Status.MITIGATED)
        again = trigger(session, failure(1, severity=Severity.SEV1))
    assert not again.created and again.incident.status is Status.TRIGGERED
    assert again.incident.severity is Severity.SEV1


def test_list_filters_by_status_severity_and_time(incident_engine) -> None:
    with transaction(incident_engine) as session:
        trigger(session, failure(0, dedup_key="a"))
        old = trigger(session, failure(1, dedup_key="b", severity=Severity.SEV4, at=T0 - timedelta(days=40)))
        transition(session, old.incident, Status.RESOLVED)
    with transaction(incident_engine) as session:
        assert len(list_incidents(session)) == 2
        assert [i.dedup_key for i in list_incidents(session, IncidentFilter(statuses=[Status.RESOLVED]))] == ["b"]
        assert [i.dedup_key for i in list_incidents(session, IncidentFilter(severities=[Severity.SEV2]))] == ["a"]
        assert [i.dedup_key for i in list_incidents(session, IncidentFilter(since=T0 - timedelta(days=1)))] == ["a"]


def test_unknown_and_malformed_ids_say_what_to_do(incident_engine) -> None:
    with transaction(incident_engine) as session, pytest.raises(IncidentError, match="no incident INC-999"):
        ensure_incident(session, "INC-999")
    with transaction(incident_engine) as session, pytest.raises(IncidentError, match="not an incident id"):
        ensure_incident(session, "yesterday's")
