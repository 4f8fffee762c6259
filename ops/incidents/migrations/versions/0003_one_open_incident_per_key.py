"""One open incident per dedup key: a partial unique index on ``dedup_key`` where ``status <> 'resolved'``.

A store may already hold several open incidents with one dedup key (written
by concurrent triggers before the index existed). The upgrade settles each
such group before it builds the index: the incident opened first stays open
and takes over the others' occurrences and latest sighting, with a ``merged``
timeline event naming each one; every other incident of the group is
resolved, with a ``resolved`` timeline event naming the incident it was
merged into. Nothing is deleted, and no notification is sent.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from alembic import op

from ops.incidents.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

INDEX = "uq_incidents_open_dedup_key"
OPEN_ONLY = sa.text("status <> 'resolved'")

incidents = sa.table(
    "incidents",
    sa.column("id", sa.Integer),
    sa.column("dedup_key", sa.String),
    sa.column("status", sa.String),
    sa.column("occurrences", sa.Integer),
    sa.column("opened_at", UTCDateTime),
    sa.column("last_seen_at", UTCDateTime),
    sa.column("mitigated_at", UTCDateTime),
    sa.column("resolved_at", UTCDateTime),
)
timeline = sa.table(
    "timeline_events",
    sa.column("incident_id", sa.Integer),
    sa.column("at", UTCDateTime),
    sa.column("kind", sa.String),
    sa.column("source", sa.String),
    sa.column("text", sa.Text),
)


def _open_duplicates(bind: sa.Connection) -> list[list[sa.Row[Any]]]:
    """Groups of open incidents sharing a dedup key, each oldest first."""
    query = (
        sa.select(incidents)
        .where(incidents.c.status != "resolved")
        .order_by(incidents.c.dedup_key, incidents.c.opened_at, incidents.c.id)
    )
    groups: dict[str, list[sa.Row[Any]]] = defaultdict(list)
    for row in bind.execute(query):
        groups[row.dedup_key].append(row)
    return [rows for rows in groups.values() if len(rows) > 1]


def _settle(bind: sa.Connection, group: list[sa.Row[Any]], now: datetime) -> None:
    kept, *others = group
    events = []
    for other in others:
        bind.execute(
            sa.update(incidents)
            .where(incidents.c.id == other.id)
            .values(status="resolved", resolved_at=now, mitigated_at=sa.func.coalesce(incidents.c.mitigated_at, now))
        )
        events.append(
            {
                "incident_id": other.id,
                "at": now,
                "kind": "resolved",
                "source": "ops",
                "text": f"{other.status} -> resolved: merged into INC-{kept.id}, the open incident of its dedup key",
            }
        )
        events.append(
            {
                "incident_id": kept.id,
                "at": now,
                "kind": "merged",
                "source": "ops",
                "text": f"merged INC-{other.id} into this incident: {other.occurrences} occurrence(s)",
            }
        )
    bind.execute(
        sa.update(incidents)
        .where(incidents.c.id == kept.id)
        .values(occurrences=sum(row.occurrences for row in group), last_seen_at=max(row.last_seen_at for row in group))
    )
    bind.execute(sa.insert(timeline), events)


def upgrade() -> None:
    bind = op.get_bind()
    now = datetime.now(timezone.utc)
    for group in _open_duplicates(bind):
        _settle(bind, group, now)
    op.create_index(INDEX, "incidents", ["dedup_key"], unique=True, sqlite_where=OPEN_ONLY, postgresql_where=OPEN_ONLY)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="incidents")
