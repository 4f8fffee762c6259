"""One incident entry per crashed run, however many reporters (hooks, sweeps) race for it.

A reporter takes the store's crash-report lock, asks whether the run is
already on some incident's timeline (its id appears in the text of every
entry a flow-run trigger writes), and only then raises the incident, all in
one transaction: a second reporter waits for the first to commit, then sees
its entry. PostgreSQL takes a transaction-scoped advisory lock; SQLite takes
its database write lock with an empty write.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ops.incidents.models import Incident, TimelineEvent

# Any fixed 64-bit number: the advisory lock id of crash reports ("sluice-crash" in ASCII).
ADVISORY_LOCK_ID = 0x736C756963652D63


def serialise_reports(session: Session) -> None:
    """Hold the store's crash-report lock until ``session``'s transaction ends; call it first in the transaction."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": ADVISORY_LOCK_ID})
    elif dialect == "sqlite":
        session.execute(sa.update(Incident).where(sa.false()).values(occurrences=Incident.occurrences))
    else:
        session.execute(sa.select(Incident.id).where(sa.false()).with_for_update())


def reported(session: Session, flow_run_id: str, since: datetime | None = None) -> bool:
    """Whether an incident already names the flow run ``flow_run_id`` (on its timeline since ``since``)."""
    named = sa.select(Incident.id).where(Incident.flow_run_id == flow_run_id).limit(1)
    if session.execute(named).first() is not None:
        return True
    entries = sa.select(TimelineEvent.id).where(TimelineEvent.text.contains(f"({flow_run_id})", autoescape=True))
    if since is not None:
        entries = entries.where(TimelineEvent.at >= since)
    return session.execute(entries.limit(1)).first() is not None
