"""The health-check flow on the real Prefect test server: a failing check fails the run and opens an incident."""

from __future__ import annotations

import pytest

from flows.health_check import failing, health_check
from ops.doctor.models import CheckResult
from ops.incidents.db import open_engine, store_url, transaction
from ops.incidents.service import ensure_incident, list_incidents
from tests.ops.factories import closed_port_url

pytestmark = pytest.mark.integration


def incidents(home):
    with transaction(open_engine(store_url(home))) as session:
        return [ensure_incident(session, i.id) for i in list_incidents(session)]


def test_a_healthy_home_completes_with_every_check_reported(prefect_api, sluice_home):
    state = health_check(return_state=True)

    assert state.is_completed(), state.message
    report = state.result()
    names = {r.name for r in report.results}
    assert {"Prefect API", "Dask", "Lake", "Quarantine", "Metadata store", "Contracts"} <= names
    assert incidents(sluice_home.home) == []


def test_an_unreachable_dask_scheduler_fails_the_run_and_opens_an_incident_with_the_runbook(
    prefect_api, sluice_home, monkeypatch
):
    scheduler = closed_port_url().removeprefix("http://").removesuffix("/api")
    monkeypatch.setenv("SLUICE_DASK_ADDRESS", f"tcp://{scheduler}")

    first = health_check(return_state=True)
    second = health_check(return_state=True)

    assert first.is_failed() and second.is_failed()
    assert "1 health check(s) failing: Dask" in first.message
    (incident,) = incidents(sluice_home.home)
    assert incident.runbook_id == "health-check-failed"
    assert incident.flow_name == "health-check" and incident.occurrences == 2
    assert "exception=HealthCheckFailedError" in incident.signature


def test_an_unwritable_lake_path_fails_the_run(prefect_api, sluice_home, monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("SLUICE_LAKE_URI", str(blocker / "lake"))

    state = health_check(return_state=True)

    assert state.is_failed() and "Lake" in state.message
    (incident,) = incidents(sluice_home.home)
    assert incident.runbook_id == "health-check-failed" and "Lake" in incident.title


def test_failing_names_each_failing_check_once_in_order():
    results = [
        CheckResult.ok("Settings", "fine"),
        CheckResult.fail("Databases", "shop unreachable", "start it"),
        CheckResult.warn("Streams", "none", "set one"),
        CheckResult.fail("Databases", "crm unreachable", "start it"),
        CheckResult.fail("Dask", "down", "start it"),
    ]

    assert failing(results) == ["Databases", "Dask"]
