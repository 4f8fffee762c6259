"""Crash detection against the Prefect API: judge Running runs, mark the dead ones Crashed, find Crashed runs.

Functions take a synchronous Prefect client the caller owns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterEndTime,
    FlowRunFilterId,
    FlowRunFilterState,
    FlowRunFilterStateType,
    TaskRunFilter,
    TaskRunFilterState,
    TaskRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.events.filters import (
    EventFilter,
    EventNameFilter,
    EventOccurredFilter,
    EventResourceFilter,
)
from prefect.states import Crashed

from ops.crashes.liveness import judge, process_state
from ops.crashes.models import (
    ProcessMark,
    ProcessState,
    RunView,
    Verdict,
)
from sluice.settings import CrashSettings

logger = logging.getLogger(__name__)
HEARTBEAT_EVENT = "prefect.flow-run.heartbeat"
ACCEPTED = "ACCEPT"
PAGE = 200  # the most flow runs the API returns at once


def _utc(value: datetime | None) -> datetime | None:
    """A plain aware UTC datetime (the API's may be pendulum's, whose arithmetic can drop the zone)."""
    if value is None:
        return None
    aware = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value
    return datetime.fromtimestamp(aware.timestamp(), tz=timezone.utc)


def engine_heartbeat_seconds() -> float:
    """Prefect's flow-run heartbeat interval in this process (0 when heartbeats are off)."""
    from prefect.flow_engine import MINIMUM_HEARTBEAT_INTERVAL
    from prefect.settings import get_current_settings

    value = get_current_settings().flows.heartbeat_frequency
    return float(max(value, MINIMUM_HEARTBEAT_INTERVAL)) if value else 0.0


def _read_runs(client: Any, runs: FlowRunFilter, sort: FlowRunSort, limit: int) -> list[FlowRun]:
    """Up to ``limit`` flow runs, read a page (the API's largest) at a time."""
    found: list[FlowRun] = []
    while len(found) < limit:
        page = client.read_flow_runs(
            flow_run_filter=runs, sort=sort, offset=len(found), limit=min(PAGE, limit - len(found))
        )
        found.extend(page)
        if len(page) < PAGE:
            break
    return found


def running_runs(client: Any, limit: int) -> list[FlowRun]:
    """The flow runs in a Running state, oldest first."""
    running = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING])))
    return _read_runs(client, running, FlowRunSort.START_TIME_ASC, limit)


def last_heartbeat(client: Any, flow_run_id: Any, since: datetime) -> datetime | None:
    """When the newest heartbeat event of the flow run occurred (not before ``since``), if any."""
    # Prefect types these bounds as its own DateTime (pendulum's on 3.11); an aware datetime validates.
    found = client.read_events(
        filter=EventFilter(
            occurred=EventOccurredFilter(since=since, until=datetime.now(timezone.utc)),  # type: ignore[arg-type]
            event=EventNameFilter(name=[HEARTBEAT_EVENT]),
            resource=EventResourceFilter(id=[f"prefect.flow-run.{flow_run_id}"]),
        ),
        limit=1,
    )
    return _utc(max((e.occurred for e in found.events), default=None))


def view(client: Any, run: FlowRun, flow_names: dict[Any, str]) -> RunView:
    """What the judgement needs of ``run``: its process mark, and its newest heartbeat if the mark cannot tell."""
    if run.flow_id not in flow_names:
        flow_names[run.flow_id] = client.read_flow(run.flow_id).name
    since = (
        _utc(run.start_time)
        or _utc(run.state.timestamp if run.state else None)
        or _utc(run.created)
        or datetime.now(timezone.utc)
    )
    mark = ProcessMark.from_labels(run.labels)
    local = mark is not None and process_state(mark) is not ProcessState.ELSEWHERE
    heartbeat = None if local else last_heartbeat(client, run.id, since)
    return RunView(
        id=str(run.id),
        name=run.name,
        flow_name=flow_names[run.flow_id],
        running_since=since,
        last_heartbeat=heartbeat,
        mark=mark,
    )


def mark_crashed(client: Any, flow_run_id: Any, message: str) -> bool:
    """Set the Running flow run Crashed, and its Running task runs; False if it has ended meanwhile.

    Prefect refuses to crash a run that reached a final state, so a run that
    finishes while being judged keeps its own end.
    """
    result = client.set_flow_run_state(flow_run_id, Crashed(message=message))
    if str(result.status.value).upper() != ACCEPTED:
        return False
    tasks = client.read_task_runs(
        flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
        task_run_filter=TaskRunFilter(
            state=TaskRunFilterState(type=TaskRunFilterStateType(any_=[StateType.RUNNING, StateType.PENDING]))
        ),
    )
    for task in tasks:
        try:
            client.set_task_run_state(task.id, Crashed(message=f"its flow run crashed: {message}"), force=True)
        except Exception:  # the flow run's state is what matters; a task left Running is cosmetic
            logger.warning("could not mark task run %s Crashed", task.id, exc_info=True)
    return True


def judge_running(
    client: Any, settings: CrashSettings, now: datetime, decide: Callable[..., Verdict] = judge
) -> list[tuple[FlowRun, RunView, Verdict]]:
    """Every Running run with its verdict at ``now``."""
    names: dict[Any, str] = {}
    default = engine_heartbeat_seconds()
    judged = []
    for run in running_runs(client, settings.max_runs):
        seen = view(client, run, names)
        judged.append((run, seen, decide(seen, now, settings, engine_default=default)))
    return judged


def crashed_runs(client: Any, since: datetime, until: datetime, limit: int) -> list[FlowRun]:
    """Flow runs that ended Crashed in ``[since, until]``, oldest first."""
    # Prefect types these bounds as its own DateTime (pendulum's on 3.11); an aware datetime validates.
    crashed = FlowRunFilter(
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.CRASHED])),
        end_time=FlowRunFilterEndTime(after_=since, before_=until),  # type: ignore[arg-type]
    )
    return _read_runs(client, crashed, FlowRunSort.END_TIME_DESC, limit)[::-1]
