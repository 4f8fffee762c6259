"""Prefect's own zombie detection: the automation that crashes silent runs, on the real Prefect server."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from prefect import get_client

from ops.crashes.automation import HEARTBEAT, NAME, install
from sluice.settings import CrashSettings, get_settings

pytestmark = pytest.mark.integration


def test_the_automation_crashes_a_silent_run_and_the_sweep_opens_its_incident(prefect_api, sluice_home):
    from prefect.events import emit_event

    from flows.detect_crashes import sweep
    from tests.flows.crash_probe import made_up_run, state_of
    from tests.flows.test_crash_detection import entries_for

    with get_client(sync_client=True) as client:
        install(client, CrashSettings(heartbeat_seconds=5, missed_heartbeats=2))
    try:
        run = made_up_run(None)
        emit_event(event=HEARTBEAT, resource={"prefect.resource.id": f"prefect.flow-run.{run.id}"})
        deadline = time.monotonic() + 120
        while state_of(run.id).is_running() and time.monotonic() < deadline:
            time.sleep(1)
    finally:
        with get_client(sync_client=True) as client:
            for automation in client.read_automations_by_name(NAME):
                client.delete_automation(automation.id)

    state = state_of(run.id)
    assert state.is_crashed() and "none for 10 s" in state.message
    sweep(datetime.now(timezone.utc) + timedelta(minutes=2))
    ((incident, entry),) = entries_for(sluice_home.home, run.id)
    assert incident.runbook_id == "flow-run-crashed" and "stopped sending heartbeats" in entry.text


def test_installing_twice_leaves_one_automation_with_the_settings_window(prefect_api):
    with get_client(sync_client=True) as client:
        try:
            first = install(client, CrashSettings(heartbeat_seconds=30, missed_heartbeats=3))
            again = install(client, CrashSettings(heartbeat_seconds=60, missed_heartbeats=3))
            (found,) = client.read_automations_by_name(NAME)
        finally:
            for automation in client.read_automations_by_name(NAME):
                client.delete_automation(automation.id)

    assert first == again == found.id and found.enabled
    trigger = found.trigger
    assert trigger.posture.value == "Proactive" and trigger.within == timedelta(seconds=180)
    assert trigger.after == {HEARTBEAT} and HEARTBEAT in trigger.expect and "prefect.flow-run.Crashed" in trigger.expect
    assert found.actions[0].type == "change-flow-run-state" and found.actions[0].state.value == "CRASHED"


def test_the_sweep_is_deployed_every_minute_and_every_flow_process_sends_heartbeats():
    import importlib
    from pathlib import Path

    import yaml

    config = yaml.safe_load((Path(__file__).resolve().parents[2] / "prefect.yaml").read_text())
    (deployment,) = [d for d in config["deployments"] if d["name"] == "detect-crashes"]
    path, _, name = deployment["entrypoint"].partition(":")
    sweep_flow = getattr(importlib.import_module(path.removesuffix(".py").replace("/", ".")), name)
    assert sweep_flow.name == "detect-crashes" and deployment["schedules"][0]["interval"] <= 120
    env = config["definitions"]["work_pool"]["job_variables"]["env"]
    assert int(env["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"]) <= get_settings().crash.heartbeat_seconds
