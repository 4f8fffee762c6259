"""Pipeline metrics read from the Prefect API: flow and task run durations, states and error rate.

For every flow run that ended in ``[since, now]`` (and each of its task runs):

==========================================  =========================================================
``sluice_flow_run_duration_seconds``        run time, labelled ``flow``, ``deployment``, ``state``
``sluice_flow_run_failed``                  1 for a Failed or Crashed run, else 0
``sluice_task_run_duration_seconds``        run time of each task run, labelled ``flow``, ``task``
``sluice_flow_error_rate``                  per flow, the share of runs that failed over the hour
                                            before ``now`` (stamped at ``now``)
==========================================  =========================================================

Each sample is stamped at the run's end time, so collecting twice writes
nothing new (see :func:`ops.metrics.collect.new_samples`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from ops.metrics.models import Sample, utc

FLOW_DURATION = "sluice_flow_run_duration_seconds"
FLOW_FAILED = "sluice_flow_run_failed"
TASK_DURATION = "sluice_task_run_duration_seconds"
ERROR_RATE = "sluice_flow_error_rate"
ERROR_WINDOW = timedelta(hours=1)
TASK_SUFFIX = re.compile(r"-[0-9a-f]{3}$")
FAILED_STATES = {"FAILED", "CRASHED"}


def task_key(run_name: str) -> str:
    """A task run's name without the suffix Prefect adds per run (``stage-file-group-1a2`` -> ``stage-file-group``)."""
    return TASK_SUFFIX.sub("", run_name)


def _state(run: Any) -> str:
    return str(run.state_type.value if run.state_type else "UNKNOWN")


def flow_run_samples(
    flows: Sequence[Any],
    names: dict[Any, str],
    deployments: dict[Any, str],
    tasks: Sequence[Any],
    now: datetime,
    environment: str,
) -> list[Sample]:
    """Samples of flow runs and their task runs (Prefect API objects), plus the error rate per flow."""
    samples: list[Sample] = []
    by_id = {}
    for run in flows:
        if run.end_time is None:
            continue
        flow = names.get(run.flow_id, "unknown")
        by_id[run.id] = flow
        labels = {"flow": flow, "deployment": deployments.get(run.deployment_id, "-"), "environment": environment}
        end = utc(run.end_time)
        samples.append(Sample(FLOW_DURATION, {**labels, "state": _state(run)}, end, run.total_run_time.total_seconds()))
        samples.append(Sample(FLOW_FAILED, labels, end, 1.0 if _state(run) in FAILED_STATES else 0.0))
    for task in tasks:
        if task.end_time is None or task.flow_run_id not in by_id:
            continue
        labels = {"flow": by_id[task.flow_run_id], "task": task_key(task.name), "environment": environment}
        samples.append(Sample(TASK_DURATION, labels, utc(task.end_time), task.total_run_time.total_seconds()))
    return samples + error_rates(flows, names, now, environment)


def error_rates(flows: Sequence[Any], names: dict[Any, str], now: datetime, environment: str) -> list[Sample]:
    recent: dict[str, list[bool]] = {}
    for run in flows:
        if run.end_time is not None and now - ERROR_WINDOW < utc(run.end_time) <= now:
            recent.setdefault(names.get(run.flow_id, "unknown"), []).append(_state(run) in FAILED_STATES)
    return [
        Sample(ERROR_RATE, {"flow": flow, "environment": environment}, now, sum(fails) / len(fails))
        for flow, fails in sorted(recent.items())
    ]


PAGE = 200  # the API's largest page


def _paged(fetch: Any, cap: int) -> list[Any]:
    """Every item ``fetch(limit=…, offset=…)`` returns, page by page, up to ``cap`` items."""
    out: list[Any] = []
    while len(out) < cap:
        page = fetch(limit=min(PAGE, cap - len(out)), offset=len(out))
        out.extend(page)
        if len(page) < PAGE:
            break
    return out


def read_prefect_samples(since: datetime, now: datetime, environment: str, cap: int = 5000) -> list[Sample]:
    """Read flow and task runs that ended since ``since`` from the Prefect API and turn them into samples.

    Raises:
        Exception: whatever the Prefect client raises when the API cannot be reached.
    """
    from prefect import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterEndTime,
        FlowRunFilterId,
    )

    # Prefect types the bound as its own DateTime (pendulum's on 3.11); an aware datetime validates.
    ended = FlowRunFilter(end_time=FlowRunFilterEndTime(after_=since))  # type: ignore[arg-type]
    with get_client(sync_client=True) as client:
        flows = _paged(partial(client.read_flow_runs, flow_run_filter=ended), cap)
        names = {f.id: f.name for f in _paged(client.read_flows, cap)}
        deployment_ids = {r.deployment_id for r in flows if r.deployment_id}
        deployments = {d: client.read_deployment(d).name for d in deployment_ids}
        tasks: list[Any] = []
        for first in range(0, len(flows), PAGE):
            ids = FlowRunFilter(id=FlowRunFilterId(any_=[r.id for r in flows[first : first + PAGE]]))
            tasks += _paged(partial(client.read_task_runs, flow_run_filter=ids), cap)
    return flow_run_samples(flows, names, deployments, tasks, now, environment)
