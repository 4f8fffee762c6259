"""The notification outbox: rows written with the incident change, claimed and settled by delivery.

**Queueing** (:func:`enqueue`) is a plain insert in the caller's session, so
a notification exists exactly when the incident change that caused it is
committed, and nothing about PagerDuty or Slack can fail or slow down that
transaction: no secret is loaded and no request is made.

**Statuses.** ``pending`` → ``sending`` (claimed by one deliverer) →
``sent``, or back to ``pending`` with ``last_error`` and a later
``next_attempt_at`` when the attempt failed, or ``failed`` when the channel
rejected it for good (retrying cannot help; it is kept for the record).

**Claims.** :func:`claim` moves a row from ``pending`` to ``sending`` with a
conditional ``UPDATE`` in its own committed transaction; only the process
whose update matched the row may send it, so two concurrent flushes never
both send one notification. While a row is ``sending``, ``next_attempt_at``
is the end of the claim's lease: a row whose deliverer died mid-send becomes
claimable again when the lease runs out. :func:`mark_sent` and
:func:`mark_unsent` settle a claim only if it is still the same claim (same
status and attempt count), and ``sent`` is written in the same transaction as
the incident's ``notify`` timeline event.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ops.errors import NotifyError
from ops.incidents.db import transaction
from ops.incidents.models import Incident, Notification, utcnow
from ops.incidents.service import record
from ops.notify.messages import Action, channel_payload, ensure_action
from sluice.settings import SLACK, NotifySettings, get_settings

logger = logging.getLogger("ops.notify")
PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
STATUSES = (PENDING, SENDING, SENT, FAILED)


def ensure_status(status: str) -> str:
    if status not in STATUSES:
        raise NotifyError(f"{status!r} is not a notification status", hint=f"use one of: {' | '.join(STATUSES)}")
    return status


def enqueue(
    session: Session,
    incident: Incident,
    action: Action | str,
    *,
    text: str | None = None,
    settings: NotifySettings | None = None,
) -> list[Notification]:
    """Queue ``action`` for ``incident`` on every configured channel, in the caller's transaction.

    One ``pending`` row per channel that takes the action: PagerDuty takes
    ``trigger``, ``acknowledge`` and ``resolve``; Slack takes those and
    ``update`` (a thread reply with ``text``, e.g. a note). Nothing is queued
    when no channel is configured. Nothing is sent either: call
    :func:`ops.notify.delivery.deliver_pending` after the transaction commits.
    """
    action = ensure_action(action)
    if action is Action.UPDATE and not (text and text.strip()):
        raise NotifyError("an update needs some text", hint="pass the note to post in the incident's thread")
    settings = settings or get_settings().notify
    for problem in settings.problems():
        logger.warning("%s", problem)
    if incident.id is None:
        session.flush()
    now = utcnow()
    rows = []
    for channel in settings.channels():
        payload = channel_payload(incident, channel, action, settings, text)
        if payload is None:
            continue
        rows.append(
            Notification(
                incident_id=incident.id,
                channel=channel,
                action=action.value,
                payload=json.dumps(payload, sort_keys=True),
                status=PENDING,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
    session.add_all(rows)
    return rows


def open_rows(engine: Engine, limit: int) -> list[Notification]:
    """Rows not yet settled (``pending`` or ``sending``), oldest first."""
    with transaction(engine) as session:
        query = (
            sa.select(Notification)
            .where(Notification.status.in_([PENDING, SENDING]))
            .order_by(Notification.id)
            .limit(limit)
        )
        return list(session.scalars(query))


def claim(
    engine: Engine, notification_id: int, now: datetime, lease: timedelta, *, due_only: bool = True
) -> Notification | None:
    """Take the row for sending, or ``None`` when another deliverer has it, it is settled, or not due."""
    pending = Notification.status == PENDING
    if due_only:
        pending = sa.and_(pending, Notification.next_attempt_at <= now)
    expired = sa.and_(Notification.status == SENDING, Notification.next_attempt_at <= now)
    with transaction(engine) as session:
        result = session.execute(
            sa.update(Notification)
            .where(Notification.id == notification_id, sa.or_(pending, expired))
            .values(status=SENDING, attempts=Notification.attempts + 1, next_attempt_at=now + lease)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None
        return session.get(Notification, notification_id)


def _settle(session: Session, row: Notification, **values: object) -> bool:
    result = session.execute(
        sa.update(Notification)
        .where(Notification.id == row.id, Notification.status == SENDING, Notification.attempts == row.attempts)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined, no-any-return]


def mark_sent(engine: Engine, row: Notification, external_ref: str | None, at: datetime) -> bool:
    """Record delivery and the incident's ``notify`` timeline event together; ``False`` if the claim was lost."""
    with transaction(engine) as session:
        if not _settle(session, row, status=SENT, sent_at=at, external_ref=external_ref, last_error=None):
            return False
        incident = session.get(Incident, row.incident_id)
        if incident is not None:
            ref = f" ({external_ref})" if external_ref else ""
            record(session, incident, "notify", row.channel, f"{row.channel} {row.action} delivered{ref}", at=at)
        return True


def mark_unsent(
    engine: Engine, row: Notification, error: str, *, permanent: bool, retry_at: datetime, at: datetime
) -> bool:
    """Put the row back as ``pending`` until ``retry_at``, or settle it as ``failed`` when ``permanent``."""
    with transaction(engine) as session:
        status = FAILED if permanent else PENDING
        if not _settle(session, row, status=status, last_error=error, next_attempt_at=retry_at):
            return False
        incident = session.get(Incident, row.incident_id)
        if permanent and incident is not None:
            record(
                session, incident, "notify-failed", row.channel, f"{row.channel} {row.action} rejected: {error}", at=at
            )
        return True


def thread_root(engine: Engine, incident_id: int) -> str | None:
    """The ``ts`` of the incident's first Slack message that was posted with a ``ts``, if any."""
    with transaction(engine) as session:
        query = (
            sa.select(Notification.external_ref)
            .where(
                Notification.incident_id == incident_id,
                Notification.channel == SLACK,
                Notification.status == SENT,
                Notification.external_ref.is_not(None),
            )
            .order_by(Notification.id)
            .limit(1)
        )
        return session.scalars(query).first()


def list_notifications(session: Session, statuses: Sequence[str] = (), limit: int = 200) -> list[Notification]:
    """The newest notifications first, optionally only those with one of ``statuses``."""
    query = sa.select(Notification).order_by(Notification.id.desc()).limit(limit)
    if statuses:
        query = query.where(Notification.status.in_([ensure_status(s) for s in statuses]))
    return list(session.scalars(query))
