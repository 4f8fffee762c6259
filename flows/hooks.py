"""State hooks of every Sluice flow: a failed or crashed run opens an incident, or adds to the open one.

A running flow run is labelled with its process (``on_running``), so that
``detect-crashes`` can tell when that process died without a word; a crash
is reported once per run, whether by the run's own hook or by that sweep
(:mod:`ops.crashes`).

The failure signature (flow, failed task, exception type, normalised
message) is the dedup key, so a storm of runs failing for one cause is one
incident. The best-matching runbook is linked, and the flow run gets a
markdown artifact naming the incident and its runbook. A hook never raises:
if the incident store is unreachable the failure is logged and the run's own
state stands.

The incident machinery (SQLAlchemy, Alembic, the runbook catalogue) is
imported when a run fails, not with the flow: every Dask worker unpickles the
flow's module before its first task, and those imports cost each one about
half a second of CPU there.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypedDict

from sluice.settings import get_settings

if TYPE_CHECKING:
    from prefect.flows import FlowStateHook

    from ops.incidents.service import Opened, Trigger
    from ops.runbooks.catalog import Runbook
    from tasks.artifacts import RunArtifacts

logger = logging.getLogger(__name__)
DRILL_TAG = "chaos-drill"
_NO_TIME = datetime.max.replace(tzinfo=timezone.utc)  # a task run without times sorts last


def _exception(state: Any) -> BaseException | None:
    try:
        found = state.result(raise_on_failure=False)
    except Exception as exc:  # noqa: BLE001 - a crashed run's result may be unreadable: the error itself will do
        return exc
    return found if isinstance(found, BaseException) else None


def failed_task(flow_run_id: Any) -> str | None:
    """The name of the first failed or crashed task run of the flow run (without its run suffix)."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        TaskRunFilter,
        TaskRunFilterState,
        TaskRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    from ops.metrics.prefect_runs import task_key

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
            task_run_filter=TaskRunFilter(
                state=TaskRunFilterState(type=TaskRunFilterStateType(any_=[StateType.FAILED, StateType.CRASHED]))
            ),
        )
    runs = sorted(runs, key=lambda r: r.expected_start_time or r.created or _NO_TIME)
    return task_key(runs[0].name) if runs else None


def flow_run_url(flow_run_id: Any) -> str | None:
    from prefect.settings import PREFECT_UI_URL

    base = PREFECT_UI_URL.value()
    return f"{base.rstrip('/')}/runs/flow-run/{flow_run_id}" if base else None


def failure_trigger(flow: Any, flow_run: Any, state: Any, books: list[Runbook]) -> Trigger:
    from ops.incidents.models import Severity, Source
    from ops.incidents.service import Trigger, storable
    from ops.incidents.signature import FailureSignature
    from ops.runbooks.match import MatchContext, best

    exc = _exception(state)
    try:
        task = failed_task(flow_run.id)
    except Exception:  # noqa: BLE001 - the API may be the thing that is down
        task = None
    signature = FailureSignature.of(flow.name, task, exc, state.message or "")
    drill = DRILL_TAG in (flow_run.tags or [])
    linked = best(MatchContext.of(signature=signature.text, flow_name=flow.name), books)
    severity = Severity(next(b.severity for b in books if b.id == linked)) if linked else Severity.SEV3
    params = flow_run.parameters or {}
    headline = (str(exc).strip().splitlines() or [""])[0][:160] if exc else (state.message or state.name)
    dataset = params.get("dataset")
    return Trigger(
        title=storable(f"{flow.name} {state.name.lower()}: {signature.exception_type}: {headline}", 300),
        severity=severity,
        source=Source.CHAOS_DRILL if drill else Source.FLOW_FAILURE,
        dedup_key=f"{DRILL_TAG}/{signature.dedup_key}" if drill else signature.dedup_key,
        environment=get_settings().env,
        text=storable(
            f"flow run {flow_run.name} ({flow_run.id}) "
            f"{state.name.lower()}" + (f" in task {task}" if task else "") + f": {headline}"
        ),
        signature=storable(signature.text),
        is_drill=drill,
        flow_name=storable(flow.name, 200),
        dataset=storable(dataset, 200) if isinstance(dataset, str) else None,
        flow_run_id=str(flow_run.id),
        flow_run_url=flow_run_url(flow_run.id),
        runbook_id=linked,
    )


def incident_artifact_key(artifacts: RunArtifacts, incident_id: int) -> str:
    """``<scope>-incident-<store>-inc-<id>``: the incident store's identity keeps two stores' INC-3 apart."""
    from ops.incidents.db import store_identity, store_url

    return artifacts.key("incident", store_identity(store_url(get_settings().home)), "inc", str(incident_id))


def _artifact(opened: Opened, flow_run: Any) -> None:
    from ops.runbooks.links import runbook_link
    from tasks.artifacts import RunArtifacts

    i = opened.incident
    artifacts = RunArtifacts.of(flow_run, i.environment)
    lines = [
        f"## Incident {i.ref} ({i.severity.value}, {i.status.value})",
        "",
        f"{'Opened' if opened.created else 'Added to the open incident'}: {i.title}",
        "",
        f"- Runbook: {runbook_link(i.runbook_id)} (`ops runbook show {i.runbook_id}`)"
        if i.runbook_id
        else "- No runbook matched: `ops runbook match " + i.ref + "`",
        f"- Occurrences: {i.occurrences:,}",
        f"- Details: `ops incident show {i.ref}`",
    ]
    artifacts.markdown(
        "\n".join(lines), key=incident_artifact_key(artifacts, i.id), description=f"Incident {i.ref} in {i.environment}"
    )


def open_failure_incident(trigger: Trigger, books: list[Runbook]) -> Opened:
    """Open or extend the incident for ``trigger`` and queue its notifications; sending them never holds the
    run (one bounded attempt, then a background deliverer: see :mod:`ops.notify.background`)."""
    from ops.incidents.db import open_engine, store_url, transaction
    from ops.respond.service import announce_opened, flush_notifications, raise_incident

    engine = open_engine(store_url(get_settings().home))
    with transaction(engine) as session:
        opened = raise_incident(session, trigger, books)
        announce_opened(session, opened)
    flush_notifications(engine)
    return opened


def _raise(flow: Any, flow_run: Any, state: Any, *, once: bool) -> Opened | None:
    """Open or extend the incident of this run's failure; with ``once``, not if an incident names the run."""
    from ops.crashes.once import reported, serialise_reports
    from ops.incidents.db import open_engine, store_url, transaction
    from ops.respond.service import announce_opened, flush_notifications, raise_incident
    from ops.runbooks.catalog import load_runbooks

    engine = open_engine(store_url(get_settings().home))
    run_id, since = str(flow_run.id), getattr(flow_run, "created", None)
    if once:
        with transaction(engine) as session:
            if reported(session, run_id, since=since):  # the common case for a sweep: no lock, no API call
                return None
    books = load_runbooks()
    trigger = failure_trigger(flow, flow_run, state, books)
    if not once:
        opened = open_failure_incident(trigger, books)
    else:
        with transaction(engine) as session:
            serialise_reports(session)
            if reported(session, run_id, since=since):
                return None
            opened = raise_incident(session, trigger, books)
            announce_opened(session, opened)
        flush_notifications(engine)
    logger.warning(
        "flow run %s %s: %s %s (runbook %s)",
        flow_run.name,
        state.name.lower(),
        "opened" if opened.created else "added to",
        opened.incident.ref,
        opened.incident.runbook_id,
    )
    return opened


def report(flow: Any, flow_run: Any, state: Any, *, once: bool = False) -> Opened | None:
    """Open or extend the incident for this failed or crashed run, and attach an artifact naming it.

    With ``once``, nothing happens if an incident already names the run, however
    many reporters race (the run's own hook, sweeps): see :mod:`ops.crashes.once`.
    Never raises: returns None when nothing was opened or the store is unreachable.
    """
    try:
        opened = _raise(flow, flow_run, state, once=once)
    except Exception:
        logger.exception("could not open an incident for flow run %s", getattr(flow_run, "id", "?"))
        return None
    if opened is None:
        return None
    try:
        _artifact(opened, flow_run)
    except Exception:
        logger.exception("could not attach the incident artifact to flow run %s", flow_run.id)
    return opened


def open_incident(flow: Any, flow_run: Any, state: Any) -> None:
    """``on_failure`` hook: open or extend the incident for this failure."""
    report(flow, flow_run, state)


def open_crash_incident(flow: Any, flow_run: Any, state: Any) -> None:
    """``on_crashed`` hook: open or extend the incident for this crash, unless a sweep reported the run already."""
    report(flow, flow_run, state, once=True)


def mark_process(flow: Any, flow_run: Any, state: Any) -> None:
    """``on_running`` hook: label the run with its process and heartbeat interval, for crash detection.

    A run whose process dies without a word is found by ``detect-crashes``
    (:mod:`ops.crashes`): on this host by its pid, elsewhere by its heartbeats.
    """
    try:
        from prefect import get_client

        from ops.crashes.liveness import this_process
        from ops.crashes.service import engine_heartbeat_seconds

        mark = this_process(int(engine_heartbeat_seconds()))
        with get_client(sync_client=True) as client:
            client.update_flow_run_labels(flow_run.id, mark.labels())
    except Exception:
        logger.warning("could not label flow run %s with its process", getattr(flow_run, "id", "?"), exc_info=True)


def lineage_start(flow: Any, flow_run: Any, state: Any) -> None:
    """``on_running`` hook: send the run's OpenLineage START event (:mod:`sluice.lineage`); never raises."""
    try:
        from sluice.lineage.run import emit_start

        emit_start(flow.name, str(flow_run.id), flow_run.parameters or {})
    except Exception:
        logger.warning("could not send the lineage START of flow run %s", getattr(flow_run, "id", "?"), exc_info=True)


class IncidentHooks(TypedDict):
    """The state hooks every flow takes, as ``@flow(..., **INCIDENT_HOOKS)`` keyword arguments."""

    on_failure: list[FlowStateHook[..., Any]]
    on_crashed: list[FlowStateHook[..., Any]]
    on_running: list[FlowStateHook[..., Any]]


INCIDENT_HOOKS: IncidentHooks = {
    "on_failure": [open_incident],
    "on_crashed": [open_crash_incident],
    "on_running": [mark_process, lineage_start],
}
