"""A backfill's flow runs on the Prefect API: the days already done, the runs still under way, the concurrency limit.

Each day's run is created through the deployment with ``run_deployment``,
the tags ``backfill`` and ``backfill:DATASET`` and the parameter
``concurrency_slot`` naming the Prefect global concurrency limit
``backfill-DATASET``: the run takes a slot of it before it reads anything, so
at most ``limit`` runs of the dataset's backfills ingest at once, whoever
started them and whichever worker runs them. The backfill sets the limit
(:func:`ensure_limit`). A day whose run of an earlier, interrupted backfill
is still scheduled, pending or running (same tag, source and pattern) is not
created again: that run is followed instead. The deployment's own
``concurrency_limit`` still applies on top.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sluice.runs.backfill import DaySlice

POLL_SECONDS = 2.0
"""How often the unfinished runs' states are read."""
PAGE = 200
UNFINISHED = ("SCHEDULED", "PENDING", "RUNNING", "PAUSED", "CANCELLING")
"""The state types of a run that is still under way (or waits for a slot or a worker)."""


def limit_name(dataset: str) -> str:
    """The Prefect global concurrency limit of ``dataset``'s backfills."""
    return f"backfill-{dataset}"


def backfill_tags(dataset: str) -> list[str]:
    return ["backfill", f"backfill:{dataset}"]


def ensure_limit(client: Any, dataset: str, slots: int) -> str:
    """Create the global concurrency limit of ``dataset``'s backfills with ``slots``, or set its limit; its name."""
    from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate

    name = limit_name(dataset)
    client.upsert_global_concurrency_limit_by_name(name, slots)
    if not client.read_global_concurrency_limit_by_name(name).active:
        client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(active=True))
    return name


def unfinished_runs(client: Any, deployment_id: UUID, dataset: str) -> dict[tuple[str, str], Any]:
    """The backfill runs of the deployment still under way, by their (source, pattern); the newest of each."""
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
        FlowRunFilterTags,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    found: dict[tuple[str, str], Any] = {}
    offset = 0
    while True:
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType(t) for t in UNFINISHED])),
                tags=FlowRunFilterTags(all_=[f"backfill:{dataset}"]),
            ),
            sort=FlowRunSort.EXPECTED_START_TIME_ASC,
            limit=PAGE,
            offset=offset,
        )
        for run in runs:
            params = run.parameters or {}
            found[(str(params.get("source", "")), str(params.get("pattern", "*")))] = run
        if len(runs) < PAGE:
            return found
        offset += PAGE


@dataclass
class DayRun:
    """A day of a backfill and what became of its flow run (``state`` ``Skipped`` when a run had completed)."""

    day: str
    source: str
    state: str
    flow_run_id: str | None = None
    flow_run_name: str | None = None
    message: str = ""
    resumed: bool = False  # the run was created by an earlier backfill that did not see it end

    @property
    def completed(self) -> bool:
        return self.state in ("Completed", "Skipped")


def completed_sources(client: Any, deployment_id: UUID) -> set[tuple[str, str]]:
    """The (source, pattern) of every Completed flow run of the deployment."""
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    found: set[tuple[str, str]] = set()
    offset = 0
    while True:
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.COMPLETED]))
            ),
            limit=PAGE,
            offset=offset,
        )
        for run in runs:
            params = run.parameters or {}
            found.add((str(params.get("source", "")), str(params.get("pattern", "*"))))
        if len(runs) < PAGE:
            return found
        offset += PAGE


@dataclass
class DayRuns:
    """Creates the days' runs (or follows those still under way) and reads their states until all end."""

    deployment: str
    dataset: str
    limit: str
    on_done: Callable[[DayRun], None]
    poll: float | None = None  # POLL_SECONDS when None

    def run(self, client: Any, slices: list[DaySlice], under_way: dict[tuple[str, str], Any]) -> list[DayRun]:
        """Every slice's run, in the order of ``slices``; ``under_way`` are runs to follow, not to create again."""
        open_runs: dict[UUID, DayRun] = {}
        for day in slices:
            found = under_way.get((day.source, day.pattern))
            flow_run = found or self._create(day)
            state = flow_run.state.name if found is not None and flow_run.state is not None else "Scheduled"
            open_runs[flow_run.id] = DayRun(
                day.day.isoformat(), day.source, state, str(flow_run.id), flow_run.name, resumed=found is not None
            )
        results: dict[str, DayRun] = {}
        while open_runs:
            for run_id, state in self._final_states(client, list(open_runs)).items():
                done = open_runs.pop(run_id)
                done.state, done.message = state.name, state.message or ""
                results[done.day] = done
                self.on_done(done)
            if open_runs:
                time.sleep(self.poll or POLL_SECONDS)
        return [results[s.day.isoformat()] for s in slices]

    def _create(self, day: DaySlice) -> Any:
        from prefect.deployments import run_deployment

        parameters = {"dataset": self.dataset, "source": day.source, "pattern": day.pattern}
        return run_deployment(
            self.deployment,
            parameters={**parameters, "concurrency_slot": self.limit},
            timeout=0,
            as_subflow=False,
            tags=backfill_tags(self.dataset),
        )

    @staticmethod
    def _final_states(client: Any, run_ids: list[UUID]) -> dict[UUID, Any]:
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

        found: dict[UUID, Any] = {}
        for start in range(0, len(run_ids), PAGE):
            ids = run_ids[start : start + PAGE]
            runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)), limit=len(ids))
            found.update({r.id: r.state for r in runs if r.state is not None and r.state.is_final()})
        return found
