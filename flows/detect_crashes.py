"""Flow ``detect-crashes``: Running runs whose process died become Crashed, and every Crashed run gets its incident.

A flow process killed by a segfault, the OOM killer or SIGKILL reports
nothing: its run stays Running and its ``on_crashed`` hook never runs. This
sweep (deployed from ``prefect.yaml`` to run every minute) judges each
Running run (:mod:`ops.crashes.liveness`), marks the dead ones Crashed with
the reason, and opens or extends the incident of each Crashed run through the
hooks' own code, exactly once per run even when sweeps overlap. Crashed runs
found in the store are left ``SLUICE_CRASH_GRACE_SECONDS`` for their own hook.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from prefect import flow, get_run_logger

from flows.hooks import INCIDENT_HOOKS, report
from ops.crashes.models import CrashedRun, FlowProcessDied
from sluice.settings import CrashSettings, get_settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeadRunState:
    """A Crashed state as the incident trigger reads it, for a run whose process left no result."""

    message: str
    name: str = "Crashed"

    def result(self, raise_on_failure: bool = False) -> BaseException:
        return FlowProcessDied(self.message)


@dataclass(frozen=True)
class FlowRef:
    name: str


@dataclass(frozen=True)
class SweepReport:
    running: int
    crashed: list[CrashedRun]
    reported: list[CrashedRun]


def _report(client: Any, run: Any, flow_name: str, reason: str) -> CrashedRun:
    opened = report(FlowRef(flow_name), run, DeadRunState(reason), once=True)
    return CrashedRun(
        str(run.id), run.name, reason, opened.incident.ref if opened else None, bool(opened and opened.created)
    )


def sweep(now: datetime | None = None, settings: CrashSettings | None = None) -> SweepReport:
    """Judge the Running runs at ``now``, crash the dead ones, and report every Crashed run not yet on an incident."""
    from prefect import get_client

    from ops.crashes.service import crashed_runs, judge_running, mark_crashed

    now = now or datetime.now(timezone.utc)
    settings = settings or get_settings().crash
    crashed: list[CrashedRun] = []
    reported: list[CrashedRun] = []
    with get_client(sync_client=True) as client:
        judged = judge_running(client, settings, now)
        for run, seen, verdict in judged:
            if verdict.dead and mark_crashed(client, run.id, verdict.reason):
                logger.warning("flow run %s (%s) Crashed: %s", run.name, run.id, verdict.reason)
                crashed.append(_report(client, client.read_flow_run(run.id), seen.flow_name, verdict.reason))
        since = now - timedelta(hours=settings.lookback_hours)
        done = {c.flow_run_id for c in crashed}
        names: dict[Any, str] = {}
        for run in crashed_runs(client, since, now - timedelta(seconds=settings.grace_seconds), settings.max_runs):
            if str(run.id) in done:
                continue
            names.setdefault(run.flow_id, client.read_flow(run.flow_id).name)
            message = (run.state.message if run.state else None) or "the flow process died without a final state"
            found = _report(client, run, names[run.flow_id], message)
            if found.incident_ref:
                reported.append(found)
    return SweepReport(len(judged), crashed, reported)


@flow(name="detect-crashes", log_prints=False, **INCIDENT_HOOKS)
def detect_crashes() -> SweepReport:
    """Crash the Running runs whose process died, and open the incidents of Crashed runs (see :func:`sweep`)."""
    found = sweep()
    log = get_run_logger()
    for run in found.crashed + found.reported:
        log.warning(
            "flow run %s (%s) Crashed: %s; incident %s",
            run.flow_run_name,
            run.flow_run_id,
            run.reason,
            run.incident_ref or "not opened (see the log above)",
        )
    log.info(
        "%d Running run(s) judged, %d crashed, %d crashed earlier reported",
        found.running,
        len(found.crashed),
        len(found.reported),
    )
    return found


if __name__ == "__main__":
    print(detect_crashes())
