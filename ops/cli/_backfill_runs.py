"""A backfill's flow runs on the Prefect API: the days already done, and a window of at most N runs at a time.

Each day's run is created through the deployment with ``run_deployment`` and
the tags ``backfill`` and ``backfill:DATASET``; a new one is created only when
fewer than ``concurrency`` of them are still unfinished, so a backfill of a
year never floods the work pool. The deployment's own ``concurrency_limit``
still applies on top.
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


@dataclass
class DayRun:
    """A day of a backfill and what became of its flow run (``state`` ``Skipped`` when a run had completed)."""

    day: str
    source: str
    state: str
    flow_run_id: str | None = None
    flow_run_name: str | None = None
    message: str = ""

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
class Window:
    """Creates the days' runs, at most ``concurrency`` unfinished at once, and reads their states until all end."""

    deployment: str
    dataset: str
    concurrency: int
    on_done: Callable[[DayRun], None]
    poll: float = POLL_SECONDS

    def run(self, client: Any, slices: list[DaySlice]) -> list[DayRun]:
        """Every slice's run, in the order of ``slices``."""
        pending = list(slices)
        open_runs: dict[UUID, DayRun] = {}
        results: dict[str, DayRun] = {}
        while pending or open_runs:
            while pending and len(open_runs) < self.concurrency:
                day = pending.pop(0)
                flow_run = self._create(day)
                open_runs[flow_run.id] = DayRun(
                    day.day.isoformat(), day.source, "Scheduled", str(flow_run.id), flow_run.name
                )
            for run_id, state in self._final_states(client, list(open_runs)).items():
                done = open_runs.pop(run_id)
                done.state, done.message = state.name, state.message or ""
                results[done.day] = done
                self.on_done(done)
            if open_runs:
                time.sleep(self.poll)
        return [results[s.day.isoformat()] for s in slices]

    def _create(self, day: DaySlice) -> Any:
        from prefect.deployments import run_deployment

        return run_deployment(
            self.deployment,
            parameters={"dataset": self.dataset, "source": day.source, "pattern": day.pattern},
            timeout=0,
            as_subflow=False,
            tags=["backfill", f"backfill:{self.dataset}"],
        )

    @staticmethod
    def _final_states(client: Any, run_ids: list[UUID]) -> dict[UUID, Any]:
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

        if not run_ids:
            return {}
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=run_ids)), limit=len(run_ids)
        )
        return {r.id: r.state for r in runs if r.state is not None and r.state.is_final()}
