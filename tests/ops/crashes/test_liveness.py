"""Judging whether a Running flow run's process is alive: its pid on this host, else its heartbeats."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import psutil
from hypothesis import given
from hypothesis import strategies as st

from ops.crashes.liveness import heartbeat_interval, judge, process_state, this_process
from ops.crashes.models import ProcessMark, ProcessState, RunView
from sluice.settings import CrashSettings

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
SETTINGS = CrashSettings(heartbeat_seconds=30, missed_heartbeats=3)


def run(mark: ProcessMark | None, last_heartbeat: datetime | None = None) -> RunView:
    return RunView(
        id="r1", name="brave-fox", flow_name="ingest-files", running_since=T0, last_heartbeat=last_heartbeat, mark=mark
    )


def exited_mark() -> ProcessMark:
    here = this_process(30)
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    started = psutil.Process(proc.pid).create_time()
    proc.wait()
    return ProcessMark(here.host, here.boot_id, proc.pid, started, 30)


def test_this_process_is_alive_and_labels_round_trip():
    mark = this_process(30)
    assert mark.pid == os.getpid() and mark.heartbeat_seconds == 30
    assert ProcessMark.from_labels(mark.labels()) == mark
    assert process_state(mark) is ProcessState.ALIVE


def test_an_exited_process_is_gone():
    assert process_state(exited_mark()) is ProcessState.GONE


def test_a_recycled_pid_is_not_the_run_s_process():
    mine = this_process(30)
    earlier = ProcessMark(mine.host, mine.boot_id, mine.pid, mine.started - 3600, 30)
    assert process_state(earlier) is ProcessState.GONE


def test_another_boot_of_this_host_means_gone_and_another_host_cannot_tell():
    mine = this_process(30)
    assert process_state(ProcessMark(mine.host, "another-boot", mine.pid, mine.started, 30)) is ProcessState.GONE
    assert (
        process_state(ProcessMark("another-host", mine.boot_id, mine.pid, mine.started, 30)) is ProcessState.ELSEWHERE
    )


def test_another_pid_namespace_of_this_boot_cannot_tell():
    mine = this_process(30)
    boot = mine.boot_id.split("/")[0]
    other = ProcessMark(mine.host, f"{boot}/pid:[1]", mine.pid, mine.started, 30)
    assert process_state(other) is ProcessState.ELSEWHERE


def test_a_live_local_process_is_alive_however_old_its_heartbeat():
    verdict = judge(run(this_process(30)), T0 + timedelta(days=2), SETTINGS)
    assert not verdict.dead and "is alive" in verdict.reason


def test_a_gone_local_process_is_dead_at_once():
    mark = exited_mark()
    verdict = judge(run(mark, last_heartbeat=T0), T0 + timedelta(seconds=1), SETTINGS)
    assert verdict.dead and f"process {mark.pid} on host '{mark.host}' died" in verdict.reason


def test_elsewhere_a_run_is_dead_after_the_missed_heartbeats_of_its_own_interval():
    mark = ProcessMark("another-host", "b", 7, 0.0, 60)
    beat = T0 + timedelta(minutes=5)
    assert not judge(run(mark, beat), beat + timedelta(seconds=180), SETTINGS).dead
    stale = judge(run(mark, beat), beat + timedelta(seconds=181), SETTINGS)
    assert stale.dead and "expected every 60 s" in stale.reason


def test_without_heartbeats_the_start_counts_and_without_a_mark_the_larger_interval():
    assert judge(run(None), T0 + timedelta(seconds=539), SETTINGS, engine_default=180).dead is False
    assert judge(run(None), T0 + timedelta(seconds=541), SETTINGS, engine_default=180).dead is True
    assert heartbeat_interval(None, SETTINGS, 0) == 30


def test_a_run_elsewhere_that_sends_no_heartbeats_is_never_judged_dead():
    mark = ProcessMark("another-host", "b", 7, 0.0, 0)
    assert not judge(run(mark), T0 + timedelta(days=30), SETTINGS).dead


hostile = st.one_of(st.text(max_size=30), st.integers(), st.floats(), st.booleans(), st.none())
labels = st.one_of(
    st.fixed_dictionaries(
        {f"sluice.process.{k}": hostile for k in ("host", "boot-id", "pid", "started", "heartbeat-seconds")}
    ),
    st.dictionaries(st.text(max_size=30), hostile, max_size=6),
)


@given(labels)
def test_hostile_labels_give_a_mark_or_none_and_its_judgement_never_raises(found):
    mark = ProcessMark.from_labels(found)
    if mark is not None:
        assert mark.pid > 0 and mark.heartbeat_seconds >= 0
        judge(run(mark), T0 + timedelta(seconds=100), SETTINGS)


@given(st.integers(min_value=1), st.floats())
def test_any_pid_and_start_on_this_host_give_a_state(pid, started):
    here = this_process(30)
    assert process_state(ProcessMark(here.host, here.boot_id, pid, started, 30)) in ProcessState
