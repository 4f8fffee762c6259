"""Drill journals in the chaos store: the toolkit's journal plus Sluice's verdicts, one row per drill.

The table ``chaos_drills`` is the chaos store's (:mod:`chaos.store`: its own
declarative base and migrations), in the incident store's database, so
``ops chaos report`` and ``ops incident`` read one database, on SQLite or
PostgreSQL alike. Service functions take the caller's session and never commit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from chaos.store import ChaosBase
from ops.incidents.models import UTCDateTime, utcnow

if TYPE_CHECKING:
    from chaos.drill import Drill
    from chaos.verdicts import Judgement


class DrillRecord(ChaosBase):
    __tablename__ = "chaos_drills"

    id: Mapped[int] = mapped_column(primary_key=True)
    drill_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    experiment: Mapped[str] = mapped_column(sa.String(200), index=True)
    title: Mapped[str] = mapped_column(sa.String(300))
    environment: Mapped[str] = mapped_column(sa.String(40))
    status: Mapped[str] = mapped_column(sa.String(16))
    score: Mapped[float | None] = mapped_column(sa.Float)
    hypotheses_held: Mapped[int] = mapped_column(default=0)
    hypotheses_total: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    flow_run_id: Mapped[str | None] = mapped_column(sa.String(64))
    incidents: Mapped[str] = mapped_column(sa.String(500), default="")
    verdicts: Mapped[str] = mapped_column(sa.Text, default="[]")
    journal: Mapped[str] = mapped_column(sa.Text, default="{}")


@dataclass(frozen=True)
class DrillView:
    """A stored drill for tables and ``--output json`` (the journal stays in the store)."""

    drill_id: str
    experiment: str
    title: str
    environment: str
    status: str
    score: float | None
    hypotheses_held: int
    hypotheses_total: int
    started_at: datetime
    ended_at: datetime
    flow_run_id: str | None
    incidents: list[str]
    verdicts: list[dict[str, Any]]


def view(record: DrillRecord) -> DrillView:
    return DrillView(
        record.drill_id,
        record.experiment,
        record.title,
        record.environment,
        record.status,
        record.score,
        record.hypotheses_held,
        record.hypotheses_total,
        record.started_at,
        record.ended_at,
        record.flow_run_id,
        [r for r in record.incidents.split(",") if r],
        json.loads(record.verdicts),
    )


def save_drill(
    session: Session, *, drill: Drill, journal: dict[str, Any], judgement: Judgement, incidents: list[str]
) -> DrillRecord:
    """Add the drill's record (journal and verdicts as JSON) to the session."""
    held = [v for v in judgement.hypotheses if v.held]
    record = DrillRecord(
        drill_id=drill.id,
        experiment=drill.experiment.name,
        title=drill.experiment.title[:300],
        environment=drill.environment,
        status=judgement.status.value,
        score=judgement.score,
        hypotheses_held=len(held),
        hypotheses_total=len(judgement.hypotheses),
        started_at=drill.started_at,
        ended_at=utcnow(),
        flow_run_id=drill.flow_run_id,
        incidents=",".join(incidents)[:500],
        verdicts=json.dumps(judgement.to_dict()["verdicts"]),
        journal=json.dumps(journal, default=str),
    )
    session.add(record)
    session.flush()
    return record


def list_drills(session: Session, *, last: int | None = None, experiment: str | None = None) -> list[DrillRecord]:
    """Stored drills, newest first: the ``last`` N of them (all when None), of one experiment or all."""
    query = sa.select(DrillRecord).order_by(DrillRecord.started_at.desc(), DrillRecord.id.desc())
    if experiment:
        query = query.where(DrillRecord.experiment == experiment)
    if last is not None:
        query = query.limit(last)
    return list(session.scalars(query))


def journal_of(session: Session, drill_id: str) -> dict[str, Any] | None:
    """The full stored journal of one drill."""
    record = session.scalars(sa.select(DrillRecord).where(DrillRecord.drill_id == drill_id)).one_or_none()
    return None if record is None else json.loads(record.journal)
