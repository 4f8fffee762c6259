"""A flow process that dies without a word becomes a Crashed run with one incident, on the real Prefect server."""

from __future__ import annotations

import signal
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flows.detect_crashes import detect_crashes, sweep
from ops.crashes.models import ProcessMark
from ops.incidents.db import open_engine, store_url, transaction
from ops.incidents.service import ensure_incident, list_incidents
from sluice.settings import CrashSettings
from tests.flows.crash_probe import dead_mark, made_up_run, run_of, start, state_of

pytestmark = pytest.mark.integration
NO_GRACE = CrashSettings(grace_seconds=0)
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432"


def incidents(home: Path):
    with transaction(open_engine(store_url(home))) as session:
        return [ensure_incident(session, i.id) for i in list_incidents(session)]


def entries_for(home: Path, run_id) -> list:
    """(incident, timeline entry) for every entry naming the flow run (the server is shared by the session)."""
    return [(i, e) for i in incidents(home) for e in i.timeline if f"({run_id})" in e.text]


def _orders(path: Path, rows: int) -> None:
    ids = np.arange(1, rows + 1)
    frame = pd.DataFrame(
        {
            "order_id": ids,
            "customer_id": [f"C{i:06d}" for i in ids],
            "order_ts": "2024-01-01T10:00:00Z",
            "status": "paid",
            "amount": (ids % 700) + 0.25,
            "currency": "EUR",
            "quantity": 1,
            "discount": "",
            "channel": "web",
            "country": "DE",
            "email": "x@example.com",
            "updated_at": "",
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)


def test_a_sigkilled_ingest_run_becomes_crashed_and_opens_its_incident_with_the_runbook(
    prefect_api, dask_address, sluice_home, tmp_path
):
    src = tmp_path / "src"
    _orders(src / "big.csv", 400_000)
    proc = start(
        "tests.flows.crash_worker", dask_address, "orders", str(src), prefect_api=prefect_api, home=sluice_home.home
    )
    run = run_of(proc.pid)
    assert run is not None, "the ingest run never reached Running with its process recorded"

    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert state_of(run.id).is_running(), "a killed process reports nothing: its run is left Running"
    killed = time.monotonic()
    report = detect_crashes()
    detected = time.monotonic() - killed

    state = state_of(run.id)
    assert state.is_crashed() and f"process {proc.pid}" in state.message and "died" in state.message
    assert detected < 30, f"detection took {detected:.0f} s"
    assert str(run.id) in [c.flow_run_id for c in report.crashed]
    ((incident, entry),) = entries_for(sluice_home.home, run.id)
    assert incident.runbook_id == "flow-run-crashed" and incident.status.value == "triggered"
    assert incident.dataset == "orders" and incident.flow_name == "ingest-files"
    assert "exception=FlowProcessDied" in incident.signature
    assert entry.kind in ("opened", "repeat") and "died without reporting" in entry.text


def test_a_segfaulted_flow_process_leaves_a_running_run_that_the_sweep_crashes(prefect_api, sluice_home):
    proc = start("tests.flows.segfault_worker", prefect_api=prefect_api, home=sluice_home.home)
    assert proc.wait(timeout=120) == -signal.SIGSEGV
    run = run_of(proc.pid, timeout=10, running=False)
    assert run is not None and state_of(run.id).is_running()

    sweep(settings=NO_GRACE)

    assert state_of(run.id).is_crashed()
    ((incident, entry),) = entries_for(sluice_home.home, run.id)
    assert incident.runbook_id == "flow-run-crashed" and incident.flow_name == "segfault-probe"
    assert f"process {proc.pid}" in entry.text


def test_sweeps_twice_and_at_once_open_one_incident_for_a_dead_run(prefect_api, sluice_home):
    run = made_up_run(dead_mark().labels())
    reports = []
    threads = [threading.Thread(target=lambda: reports.append(sweep(settings=NO_GRACE))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    reports.append(sweep(settings=NO_GRACE))

    assert state_of(run.id).is_crashed()
    ((incident, _),) = entries_for(sluice_home.home, run.id)
    assert incident.runbook_id == "flow-run-crashed"
    mine = [c for r in reports for c in r.crashed + r.reported if c.flow_run_id == str(run.id)]
    assert len([c for c in mine if c.incident_ref]) == 1


def test_a_run_crashed_elsewhere_gets_one_incident_after_the_grace(prefect_api, sluice_home):
    from prefect import get_client
    from prefect.states import Crashed

    run = made_up_run(None)
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(run.id, Crashed(message="Flow run infrastructure exited with status 137"))
    now = datetime.now(timezone.utc)

    early = sweep(now, CrashSettings(grace_seconds=60)).reported  # runs of other tests may be reported: shared server
    assert str(run.id) not in [r.flow_run_id for r in early]  # its own hook may still be reporting
    later = now + timedelta(seconds=61)
    first, second = sweep(later, CrashSettings(grace_seconds=60)), sweep(later, CrashSettings(grace_seconds=60))

    assert str(run.id) in [r.flow_run_id for r in first.reported]
    assert str(run.id) not in [r.flow_run_id for r in second.reported]
    ((incident, _),) = entries_for(sluice_home.home, run.id)
    assert incident.runbook_id == "flow-run-crashed" and "status <n>" in incident.signature


def test_a_live_run_is_never_marked_crashed(prefect_api, sluice_home, tmp_path):
    release = tmp_path / "release"
    proc = start("tests.flows.sleep_worker", str(release), prefect_api=prefect_api, home=sluice_home.home)
    try:
        run = run_of(proc.pid)
        assert run is not None
        far = datetime.now(timezone.utc) + timedelta(hours=6)  # its heartbeats look stale; its process lives
        report = sweep(far, NO_GRACE)
        assert state_of(run.id).is_running() and str(run.id) not in [c.flow_run_id for c in report.crashed]
    finally:
        release.touch()
        proc.wait(timeout=120)
    assert state_of(run.id).is_completed()
    assert entries_for(sluice_home.home, run.id) == []


def test_a_run_on_another_host_is_judged_by_its_heartbeats(prefect_api, sluice_home):
    from prefect import get_client

    from ops.crashes.service import judge_running

    mark = ProcessMark("another-host", "boot", 4242, 0.0, 30)
    run = made_up_run(mark.labels())
    started = state_of(run.id).timestamp
    settings = CrashSettings(missed_heartbeats=3)
    with get_client(sync_client=True) as client:

        def verdict(at):
            return {r.id: v for r, _, v in judge_running(client, settings, at)}[run.id]

        fresh, stale = verdict(started + timedelta(seconds=89)), verdict(started + timedelta(seconds=91))
    assert not fresh.dead and stale.dead and "none for 91 s" in stale.reason

    early = sweep(started + timedelta(seconds=89), NO_GRACE)
    assert str(run.id) not in [c.flow_run_id for c in early.crashed] and state_of(run.id).is_running()
    assert str(run.id) in [c.flow_run_id for c in sweep(started + timedelta(seconds=91), NO_GRACE).crashed]
    assert state_of(run.id).is_crashed()


@pytest.fixture(params=["sqlite", "postgresql"])
def incident_store(request, sluice_home, monkeypatch):
    """The incident store of ``sluice_home``: its SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield
        return
    import uuid

    import sqlalchemy as sa

    name = f"sluice_crashes_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(f"{POSTGRES}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    monkeypatch.setenv("SLUICE_INCIDENTS_URL", f"{POSTGRES}/{name}")
    try:
        yield
    finally:
        open_engine(f"{POSTGRES}/{name}").dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def test_reporters_racing_for_one_crashed_run_write_one_entry(prefect_api, sluice_home, incident_store):
    from flows.detect_crashes import DeadRunState, FlowRef
    from flows.hooks import report

    run = made_up_run(dead_mark().labels())
    start_line = threading.Barrier(6)
    results = []

    def reporter() -> None:
        start_line.wait()
        results.append(report(FlowRef("ingest-files"), run, DeadRunState("process 1 on host 'h' died"), once=True))

    threads = [threading.Thread(target=reporter) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(results) == 6 and sum(r is not None for r in results) == 1
    ((incident, entry),) = entries_for(sluice_home.home, run.id)
    assert incident.occurrences == 1 and entry.kind == "opened" and incident.runbook_id == "flow-run-crashed"


def test_a_heartbeat_event_keeps_a_run_elsewhere_alive_until_it_is_missed(prefect_api, sluice_home):
    from prefect import get_client
    from prefect.events import emit_event

    from ops.crashes.service import HEARTBEAT_EVENT, judge_running, last_heartbeat

    run = made_up_run(ProcessMark("another-host", "boot", 4242, 0.0, 1).labels())
    started = state_of(run.id).timestamp
    time.sleep(1.5)  # the heartbeat comes well after the start: judged from the start, the run would be dead
    emit_event(event=HEARTBEAT_EVENT, resource={"prefect.resource.id": f"prefect.flow-run.{run.id}"})
    settings = CrashSettings(missed_heartbeats=2)
    with get_client(sync_client=True) as client:
        deadline = time.monotonic() + 60
        while (beat := last_heartbeat(client, run.id, started)) is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert beat is not None and (beat - started).total_seconds() >= 1.5

        def verdict(at):
            return {r.id: v for r, _, v in judge_running(client, settings, at)}[run.id]

        alive, dead = verdict(beat + timedelta(seconds=1.5)), verdict(beat + timedelta(seconds=2.5))
    assert not alive.dead and dead.dead and "expected every 1 s" in dead.reason
