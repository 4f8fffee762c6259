"""Running the real database flows inside a drill: ``ingest-table`` and ``capture-changes``, tagged for the drill.

Like :mod:`chaos.ingestion`, every run is a real Prefect flow run with the
tags ``chaos-drill`` and ``drill-<id>`` (a failure opens a drill incident),
writing the drill's own lake, and a failed flow run is an outcome, never an
exception: its :class:`~chaos.ingestion.RunOutcome` goes to the outcome and
alerting hypotheses. ``ingest-table`` stages its key ranges on the drill's
Dask cluster; ``capture-changes`` runs in this process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chaos.database import ensure_database
from chaos.ingestion import RunOutcome, utcnow
from chaos.stack import drill_environment
from flows.hooks import DRILL_TAG

if TYPE_CHECKING:
    from chaos.drill import Drill


def _finish(drill: Drill, label: str, started: Any, state: Any) -> RunOutcome:
    out = RunOutcome(
        label,
        state.name,
        started,
        utcnow(),
        message=(state.message or "")[:500],
        flow_run_id=str(state.state_details.flow_run_id) if state.state_details.flow_run_id else None,
    )
    if state.is_completed():
        report = state.result(raise_on_failure=False)
        out.rows_read = int(getattr(report, "rows_read", 0))
    drill.runs.append(out)
    return out


def _not_started(drill: Drill, label: str, started: Any, exc: Exception) -> RunOutcome:
    out = RunOutcome(label, "NotStarted", started, utcnow(), message=f"{type(exc).__name__}: {exc}"[:500])
    drill.runs.append(out)
    return out


def run_table(drill: Drill, *, label: str, mode: str = "snapshot", cursor: str | None = None) -> RunOutcome:
    """One ``ingest-table`` run of the drill's source table into its lake."""
    from prefect import tags
    from prefect_dask.task_runners import DaskTaskRunner

    from flows.ingest_table import ingest_table

    stack = drill.stack
    db = ensure_database(stack)
    flow = ingest_table.with_options(
        task_runner=DaskTaskRunner(address=stack.dask_address),  # type: ignore[arg-type]
        flow_run_name=f"chaos-{drill.tag}-{label}",
    )
    started = utcnow()
    try:
        with drill_environment(stack), tags(DRILL_TAG, drill.tag):
            state = flow(
                stack.dataset, connection=db.url(), table=db.table, mode=mode, cursor=cursor, return_state=True
            )
    except Exception as exc:  # noqa: BLE001 - the run could not even be created
        return _not_started(drill, label, started, exc)
    return _finish(drill, label, started, state)


def run_capture(drill: Drill, *, label: str, follow_seconds: float = 0.0, batch_changes: int = 2_000) -> RunOutcome:
    """One ``capture-changes`` run of the drill's slot: drain it (``follow_seconds=0``) or follow it for a while."""
    from prefect import tags

    from flows.capture_changes import capture_changes

    stack = drill.stack
    db = ensure_database(stack)
    flow = capture_changes.with_options(flow_run_name=f"chaos-{drill.tag}-{label}")
    started = utcnow()
    try:
        with drill_environment(stack), tags(DRILL_TAG, drill.tag):
            state = flow(
                stack.dataset,
                db.slot,
                table=f"public.{db.table}",
                dsn=db.capture_dsn(),
                follow_seconds=follow_seconds,
                create_slot=False,
                batch_changes=batch_changes,
                idle_sleep_seconds=0.2,
                return_state=True,
            )
    except Exception as exc:  # noqa: BLE001 - the run could not even be created
        return _not_started(drill, label, started, exc)
    return _finish(drill, label, started, state)
