"""Opening incidents with their runbook linked: the entry point for alerts, flow failures, drills and people."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.orm import Session

from ops.incidents.models import Incident
from ops.incidents.service import Opened, Trigger, record, trigger
from ops.runbooks.catalog import Runbook, load_runbooks
from ops.runbooks.match import MatchContext, rank


def context_of(incident: Incident, resource: str | None = None) -> MatchContext:
    return MatchContext.of(title=incident.title, signature=incident.signature, source=incident.source.value,
                           dedup_key=incident.dedup_key, flow_name=incident.flow_name, resource=resource)


def raise_incident(session: Session, t: Trigger, books: list[Runbook] | None = None) -> Opened:
    """Open (or append to) the incident for ``t``, linking the best-matching runbook when none is given."""
    if t.runbook_id is None:
        ctx = MatchContext.of(title=t.title, signature=t.signature, source=t.source.value, dedup_key=t.dedup_key,
                              flow_name=t.flow_name)
        ranked = rank(ctx, books if books is not None else load_runbooks())
        if ranked:
            t = replace(t, runbook_id=ranked[0].runbook_id)
    opened = trigger(session, t)
    if opened.created and opened.incident.runbook_id:
        record(session, opened.incident, "runbook", "ops", f"linked runbook {opened.incident.runbook_id}",
               at=t.at)
    return opened
