"""Chaos drill journals: one row per drill with its verdicts, score and the toolkit's journal.

The table belongs to the chaos store now (``chaos/store.py``, with migrations
of its own), which creates it where it is missing. This revision stays so that
stores it brought up to date keep their history; it creates the table only if
the chaos store has not, and its downgrade leaves the chaos store's table alone.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ops.incidents.models import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("chaos_drills"):
        return
    op.create_table(
        "chaos_drills",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("drill_id", sa.String(32), nullable=False, unique=True),
        sa.Column("experiment", sa.String(200), nullable=False, index=True),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("environment", sa.String(40), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("score", sa.Float),
        sa.Column("hypotheses_held", sa.Integer, nullable=False),
        sa.Column("hypotheses_total", sa.Integer, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False, index=True),
        sa.Column("ended_at", UTCDateTime, nullable=False),
        sa.Column("flow_run_id", sa.String(64)),
        sa.Column("incidents", sa.String(500), nullable=False),
        sa.Column("verdicts", sa.Text, nullable=False),
        sa.Column("journal", sa.Text, nullable=False),
    )


def downgrade() -> None:
    """Nothing: the drills are the chaos store's to keep or drop (``chaos.store.migrate``)."""
