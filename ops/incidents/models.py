"""The incident store's tables, as SQLAlchemy 2 declarative models.

Times are stored as timezone-aware UTC. The schema is created and upgraded by
the Alembic migrations in ``ops/incidents/migrations`` (:func:`ops.incidents.db.migrate`),
never by ``create_all``, so SQLite and PostgreSQL stores move forward the same way.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, timezone

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no offset)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return aware.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Severity(enum.StrEnum):
    SEV1 = "SEV1"
    SEV2 = "SEV2"
    SEV3 = "SEV3"
    SEV4 = "SEV4"


class Source(enum.StrEnum):
    ALERT = "alert"
    FLOW_FAILURE = "flow-failure"
    CHAOS_DRILL = "chaos-drill"
    MANUAL = "manual"


class Status(enum.StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    MITIGATED = "mitigated"
    RESOLVED = "resolved"


class ActionType(enum.StrEnum):
    MITIGATE = "mitigate"
    PREVENT = "prevent"
    PROCESS = "process"


OPEN_ONLY = sa.text("status <> 'resolved'")
"""The rows of open incidents: at most one of them per dedup key (a partial unique index)."""


class Base(DeclarativeBase):
    pass


def _enum(kind: type[enum.StrEnum]) -> sa.Enum:
    return sa.Enum(
        kind, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e], validate_strings=True
    )


ONSET = "onset"
"""The timeline kind of when an alert's trouble began (its first anomalous point), before the alert fired."""


class Incident(Base):
    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(300))
    severity: Mapped[Severity] = mapped_column(_enum(Severity))
    environment: Mapped[str] = mapped_column(sa.String(40))
    source: Mapped[Source] = mapped_column(_enum(Source))
    status: Mapped[Status] = mapped_column(_enum(Status), default=Status.TRIGGERED)
    dedup_key: Mapped[str] = mapped_column(sa.String(200), index=True)
    signature: Mapped[str] = mapped_column(sa.Text, default="")
    is_drill: Mapped[bool] = mapped_column(default=False)
    flow_name: Mapped[str | None] = mapped_column(sa.String(200))
    deployment: Mapped[str | None] = mapped_column(sa.String(200))
    dataset: Mapped[str | None] = mapped_column(sa.String(200))
    flow_run_id: Mapped[str | None] = mapped_column(sa.String(64))
    flow_run_url: Mapped[str | None] = mapped_column(sa.String(500))
    runbook_id: Mapped[str | None] = mapped_column(sa.String(100))
    assignee: Mapped[str | None] = mapped_column(sa.String(200))
    occurrences: Mapped[int] = mapped_column(default=1)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    mitigated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    timeline: Mapped[list[TimelineEvent]] = relationship(
        back_populates="incident", order_by="TimelineEvent.at", cascade="all, delete-orphan"
    )
    actions: Mapped[list[ActionItem]] = relationship(
        back_populates="incident", order_by="ActionItem.id", cascade="all, delete-orphan"
    )
    postmortem: Mapped[Postmortem | None] = relationship(back_populates="incident", cascade="all, delete-orphan")

    __table_args__ = (
        sa.Index("ix_incidents_status_opened", "status", "opened_at"),
        sa.Index(
            "uq_incidents_open_dedup_key", "dedup_key", unique=True, sqlite_where=OPEN_ONLY, postgresql_where=OPEN_ONLY
        ),
    )

    @property
    def ref(self) -> str:
        return f"INC-{self.id}"


class TimelineEvent(Base):
    __tablename__ = "timeline_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(sa.String(40))
    source: Mapped[str] = mapped_column(sa.String(60))
    text: Mapped[str] = mapped_column(sa.Text)
    who: Mapped[str | None] = mapped_column(sa.String(200))

    incident: Mapped[Incident] = relationship(back_populates="timeline")


class ActionItem(Base):
    __tablename__ = "action_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    type: Mapped[ActionType] = mapped_column(_enum(ActionType))
    description: Mapped[str] = mapped_column(sa.Text)
    owner: Mapped[str] = mapped_column(sa.String(200))
    due: Mapped[date | None] = mapped_column(sa.Date)
    status: Mapped[str] = mapped_column(sa.String(16), default="open")
    tracker_url: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    incident: Mapped[Incident] = relationship(back_populates="actions")


class Postmortem(Base):
    __tablename__ = "postmortems"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    path: Mapped[str | None] = mapped_column(sa.String(500))
    markdown: Mapped[str] = mapped_column(sa.Text, default="")

    incident: Mapped[Incident] = relationship(back_populates="postmortem")


class Notification(Base):
    """The notification outbox: written before sending, kept until delivered."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(sa.String(20))
    action: Mapped[str] = mapped_column(sa.String(20))
    payload: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    external_ref: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
