"""Impact figures from run records, and detection and response times, on the scripted incident."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ops.incidents.db import transaction
from ops.incidents.models import Severity, Status
from ops.incidents.service import transition, trigger
from ops.postmortems.impact import (
    measure_durations,
    measure_impact,
    runs_for,
    sla_minutes_breached,
)
from ops.postmortems.models import StateHistory
from ops.postmortems.timeline import alert_transitions
from sluice.runs.metastore import engine_for
from tests.ops.incidents.factories import T0
from tests.ops.postmortems.factories import (
    KEY,
    minutes,
    save_scripted_runs,
    scripted_alerts,
    scripted_incident,
    scripted_trigger,
)

NO_HISTORY = StateHistory("run-a", unavailable="not asked")


def test_runs_are_those_of_the_dataset_while_open_plus_the_incidents_own_run(incident_engine, tmp_path):
    url = f"sqlite:///{tmp_path / 'sluice.db'}"
    save_scripted_runs(url)
    with transaction(incident_engine) as session, engine_for(url).connect() as conn:
        incident = scripted_incident(session)
        runs = runs_for(conn, incident, minutes(40))
        impact = measure_impact(incident, runs, now=minutes(90))

    assert [r.run_id for r in runs] == ["run-a", "run-b"]
    assert (impact.runs, impact.failed_runs) == (2, 1)
    assert (impact.rows_delayed, impact.rows_quarantined, impact.rows_reprocessed) == (10, 4, 10)
    assert impact.sla_minutes_breached == 12.0
    assert (impact.window_start, impact.window_end) == (T0, minutes(40))


def test_detection_runs_from_the_earliest_evidence_and_response_times_from_opening(incident_engine, tmp_path):
    url = f"sqlite:///{tmp_path / 'sluice.db'}"
    save_scripted_runs(url)
    with transaction(incident_engine) as session, engine_for(url).connect() as conn:
        incident = scripted_incident(session)
        runs = runs_for(conn, incident, minutes(40))
        alerts = alert_transitions(scripted_alerts(), KEY, T0, minutes(40))
        durations = measure_durations(incident, runs, NO_HISTORY, alerts)

    assert durations.first_evidence.at == minutes(-4)
    assert durations.first_evidence.what == "chaos action: deleted s3://drop/orders/a.csv"
    assert durations.detection == timedelta(minutes=4)
    assert (durations.to_acknowledge, durations.to_mitigate, durations.to_resolve) == (
        timedelta(minutes=3),
        timedelta(minutes=12),
        timedelta(minutes=40),
    )


def test_without_earlier_evidence_detection_is_zero_and_open_stages_are_none(incident_engine):
    with transaction(incident_engine) as session:
        incident = trigger(session, scripted_trigger(flow_run_id=None)).incident
        durations = measure_durations(incident, [], NO_HISTORY, [])

    assert durations.detection == timedelta(0) and durations.first_evidence.what == f"{incident.ref} opened (alert)"
    assert durations.to_acknowledge is durations.to_mitigate is durations.to_resolve is None


def test_a_failed_run_is_evidence_when_nothing_came_earlier(incident_engine, tmp_path):
    url = f"sqlite:///{tmp_path / 'sluice.db'}"
    save_scripted_runs(url)
    with transaction(incident_engine) as session, engine_for(url).connect() as conn:
        incident = trigger(session, scripted_trigger()).incident
        durations = measure_durations(incident, runs_for(conn, incident, minutes(40)), NO_HISTORY, [])

    assert durations.first_evidence.what == "run run-a of orders failed"
    assert durations.detection == timedelta(seconds=78)


@pytest.mark.parametrize(
    ("severity", "mitigated", "expected"),
    [(Severity.SEV1, 30, 30.0), (Severity.SEV2, None, 90.0), (Severity.SEV3, 30, 0.0), (Severity.SEV4, None, 0.0)],
)
def test_sla_minutes_count_for_sev1_and_sev2_until_mitigation(incident_engine, severity, mitigated, expected):
    with transaction(incident_engine) as session:
        incident = trigger(session, scripted_trigger(severity=severity)).incident
        if mitigated is not None:
            transition(session, incident, Status.MITIGATED, at=minutes(mitigated))

        assert sla_minutes_breached(incident, minutes(90)) == expected
