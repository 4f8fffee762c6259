"""Drill incidents: the incident a drill's run opened, the drill on its timeline, closing it afterwards.

A failed drill run opens (or adds to) an incident through the flow's failure
hook, flagged ``is_drill`` with source ``chaos-drill``. The hook writes the
flow run id into the timeline entry it adds, which is how a run finds its
incident even when the failure was grouped into an open one. An alert rule
that fires on the drill's own stack (:mod:`chaos.alerts`) opens a drill
incident too, with a dedup key under the drill's (``drill-<id>/<rule>:…``).
After the drill, its actions, rollbacks and verdict are written to those
incidents' timelines (kinds ``chaos-action``, ``chaos-rollback``,
``chaos-verdict``) at the times they happened.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from chaos.drill import Drill, Phase
from chaos.ingestion import RunOutcome
from ops.incidents.models import Incident, Source, Status
from ops.incidents.service import record, transition
from ops.respond.sink import DrillFlag
from sluice.settings import get_settings

if TYPE_CHECKING:
    from chaos.report import LoopView

TIMELINE_SOURCE = "chaos-drill"
KIND = {Phase.ROLLBACK: "chaos-rollback"}


def incident_for_run(session: Session, run: RunOutcome) -> Incident | None:
    """The drill incident that ``run``'s failure opened or added to, if any."""
    if not run.flow_run_id:
        return None
    query = (
        sa.select(Incident)
        .where(
            Incident.is_drill.is_(True),
            Incident.source == Source.CHAOS_DRILL,
            Incident.last_seen_at >= run.started_at - timedelta(seconds=1),
        )
        .options(selectinload(Incident.timeline))
        .order_by(Incident.id)
    )
    for incident in session.scalars(query):
        if incident.flow_run_id == run.flow_run_id or any(run.flow_run_id in e.text for e in incident.timeline):
            return incident
    return None


def triggered_at(incident: Incident, run: RunOutcome) -> datetime:
    """When ``run``'s failure reached the incident (its own timeline entry, or the opening)."""
    own = [e.at for e in incident.timeline if run.flow_run_id and run.flow_run_id in e.text]
    return min(own) if own else incident.opened_at


def alert_incidents(session: Session, drill: Drill, rule: str | None = None) -> list[Incident]:
    """The drill incidents opened by alert rules (or by ``rule``) on the drill's own stack, oldest first."""
    prefix = DrillFlag(drill.id).rule_prefix(rule)
    query = (
        sa.select(Incident)
        .where(
            Incident.is_drill.is_(True),
            Incident.source == Source.CHAOS_DRILL,
            Incident.dedup_key.startswith(prefix, autoescape=True),
        )
        .options(selectinload(Incident.timeline))
        .order_by(Incident.id)
    )
    return list(session.scalars(query))


def drill_incidents(session: Session, drill: Drill) -> list[Incident]:
    """Every drill incident the drill's runs opened or added to, and those its alert rules opened, once each.

    Only drill incidents: a failed drill run never adds to a real incident (its
    dedup key is under ``chaos-drill/``), and a drill never writes to or
    resolves a real one.
    """
    found: dict[int, Incident] = {}
    for run in drill.runs:
        incident = incident_for_run(session, run)
        if incident is not None and incident.is_drill:
            found.setdefault(incident.id, incident)
    for incident in alert_incidents(session, drill):
        found.setdefault(incident.id, incident)
    return list(found.values())


def record_drill(session: Session, incident: Incident, drill: Drill, verdict: str) -> None:
    """Write the drill's actions, rollbacks and verdict on ``incident``'s timeline, at their own times."""
    for step in drill.steps:
        if step.type != "action" or step.phase not in (Phase.METHOD, Phase.ROLLBACK):
            continue
        text = f"{step.name}: {step.status}" + (f" ({step.detail[:300]})" if step.detail else "")
        record(
            session,
            incident,
            KIND.get(step.phase, "chaos-action"),
            TIMELINE_SOURCE,
            f"drill {drill.id} ({drill.experiment.name}) {text}",
            at=step.started_at,
        )
    for change in drill.source_changes:
        record(
            session,
            incident,
            "cause",
            TIMELINE_SOURCE,
            f"cause: the source changed: {change[:300]}",
            at=drill.fault_started_at,
        )
    record(
        session, incident, "chaos-verdict", TIMELINE_SOURCE, f"drill {drill.id} ({drill.experiment.name}): {verdict}"
    )


def resolve_drill_incidents(session: Session, drill: Drill) -> list[str]:
    """Resolve the drill's open incidents (a drill cleans up after itself); return their refs."""
    refs = []
    for incident in drill_incidents(session, drill):
        if incident.status is not Status.RESOLVED:
            transition(
                session,
                incident,
                Status.RESOLVED,
                who=TIMELINE_SOURCE,
                text=f"resolved by the rollback of drill {drill.id} ({drill.experiment.name})",
            )
        refs.append(incident.ref)
    return refs


def loop_of(incident: Incident, drill: Drill) -> LoopView:
    """``incident`` through the loop: the drill's first fault, what rang, the suspects, the cause, the runbook,
    and its postmortem draft (or why there is none)."""
    from chaos.report import LoopView

    at = drill.fault_started_at
    step = next(
        (s for s in drill.steps if at and s.phase is Phase.METHOD and s.started_at <= at <= (s.ended_at or at)),
        None,
    )
    fault = f"{step.name} at {at:%H:%M:%S}" if step and at else "-"
    latest = {e.kind: e.text for e in incident.timeline}
    suspects = latest.get("correlation", "").removeprefix("correlation: ")
    causes = "; ".join(e.text.removeprefix("cause: ") for e in incident.timeline if e.kind == "cause")
    head = incident.signature.split(" ", 1)[0]
    alert = head.removeprefix("alert=") if head.startswith("alert=") else f"failed run ({incident.severity.value})"
    return LoopView(
        incident.ref,
        fault,
        f"{alert}, {incident.ref} opened {incident.opened_at:%H:%M:%S}",
        incident.runbook_id,
        suspects,
        causes,
        _draft(incident, drill),
    )


def _draft(incident: Incident, drill: Drill) -> str:
    from ops.postmortems.service import FactSources, draft_postmortem

    sources = FactSources(get_settings().home, drill.stack.metadata_url if drill.has_stack else "", None)
    try:
        return draft_postmortem(incident, sources).markdown
    except Exception as exc:  # noqa: BLE001 - the artifact says why, the drill goes on
        return f"(no draft: {type(exc).__name__}: {exc})"
