"""Drill journals: one row per drill with its verdicts, score and the toolkit's journal.

The incident store's revision ``0002`` created this table before the chaos
store had migrations of its own: where it exists, its rows are kept and
only this revision is recorded.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ops.incidents.models import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TABLE = "chaos_drills"


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table(TABLE):
        return
    op.create_table(
        TABLE,
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
    op.drop_table(TABLE)
