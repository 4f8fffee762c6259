"""Is a flow run's process alive? Its pid on this host, else its heartbeats.

A run whose process was started on this host (same host name, boot and pid
namespace) is alive exactly while a process with its pid and start time
exists: a recycled pid belongs to a process started later. A run on another host, or one that
recorded no mark, is alive while its heartbeats are fresh: the newest one (or
the moment it started running) is less than ``missed_heartbeats`` intervals
old.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from datetime import datetime
from functools import cache
from pathlib import Path

import psutil

from ops.crashes.models import (
    ProcessMark,
    ProcessState,
    RunView,
    Verdict,
)
from sluice.settings import CrashSettings

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
PID_NAMESPACE = "/proc/self/ns/pid"  # two containers on one host share the boot, not the pids
START_TOLERANCE = 1.0  # seconds: create times are read at a clock-tick resolution


@cache
def boot_id() -> str:
    """This boot of this host and the pid namespace of this process: where a pid means one process.

    Linux gives the boot's id and the namespace; elsewhere the boot time stands for both.
    """
    try:
        return f"{BOOT_ID.read_text().strip()}/{os.readlink(PID_NAMESPACE)}"
    except OSError:
        return f"boot-{int(psutil.boot_time())}"


def this_process(heartbeat_seconds: int | None) -> ProcessMark:
    """The mark of the calling process, which sends heartbeats every ``heartbeat_seconds`` (None: never)."""
    pid = os.getpid()
    return ProcessMark(
        host=socket.gethostname(),
        boot_id=boot_id(),
        pid=pid,
        started=psutil.Process(pid).create_time(),
        heartbeat_seconds=heartbeat_seconds or 0,
    )


def process_state(mark: ProcessMark) -> ProcessState:
    """Whether the process of ``mark`` lives, is gone, or runs on another host (so this one cannot tell)."""
    if mark.host != socket.gethostname():
        return ProcessState.ELSEWHERE
    if mark.boot_id.split("/")[0] != boot_id().split("/")[0]:
        return ProcessState.GONE  # this host rebooted since
    if mark.boot_id != boot_id():
        return ProcessState.ELSEWHERE  # another container of this host: its pids are not ours
    try:
        process = psutil.Process(mark.pid)
        same = abs(process.create_time() - mark.started) <= START_TOLERANCE
        return ProcessState.ALIVE if same and process.status() != psutil.STATUS_ZOMBIE else ProcessState.GONE
    except psutil.NoSuchProcess:
        return ProcessState.GONE
    except psutil.AccessDenied:  # it exists; another user's
        return ProcessState.ALIVE


def heartbeat_interval(mark: ProcessMark | None, settings: CrashSettings, engine_default: float) -> float:
    """The interval a run promised: its recorded one, else the larger of the setting and Prefect's default."""
    if mark is not None:
        return float(mark.heartbeat_seconds)
    return max(settings.heartbeat_seconds, engine_default)


def judge(
    run: RunView,
    now: datetime,
    settings: CrashSettings,
    *,
    engine_default: float = 0.0,
    state_of: Callable[[ProcessMark], ProcessState] = process_state,
) -> Verdict:
    """Whether the Running ``run`` is dead at ``now``, and why, in words for its Crashed state."""
    if run.mark is not None:
        state = state_of(run.mark)
        where = f"process {run.mark.pid} on host '{run.mark.host}'"
        if state is ProcessState.ALIVE:
            return Verdict(False, f"{where} is alive")
        if state is ProcessState.GONE:
            return Verdict(True, f"{where} died without reporting a final state")
    interval = heartbeat_interval(run.mark, settings, engine_default)
    if interval <= 0:
        return Verdict(False, "the run sends no heartbeats and its host cannot be checked from here")
    last = run.last_heartbeat or run.running_since
    silent = (now - last).total_seconds()
    limit = interval * settings.missed_heartbeats
    if silent > limit:
        return Verdict(
            True,
            f"the flow process stopped sending heartbeats: none for {silent:.0f} s "
            f"(expected every {interval:.0f} s, Crashed after {limit:.0f} s)",
        )
    return Verdict(False, f"last heartbeat {silent:.0f} s ago (Crashed after {limit:.0f} s)")
