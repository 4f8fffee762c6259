"""Postmortem action items: add, list, complete. Plain functions over a session the caller owns.

An item is ``open`` until it is marked ``done``; an open item whose due date
is before today is *overdue*. Input is checked by the ``ensure_*`` functions,
which raise :class:`~ops.errors.ActionItemError` with a message that says
what a valid value looks like.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from ops.errors import ActionItemError
from ops.incidents.models import ActionItem, ActionType, Incident, UTCDateTime, utcnow

OPEN = "open"
DONE = "done"
TYPES_HINT = "the types are " + ", ".join(t.value for t in ActionType)


@dataclass(frozen=True)
class ActionSummary:
    """One action item as ``ops action list`` shows it."""

    id: int
    incident: str
    type: str
    description: str
    owner: str
    due: date | None
    status: str
    overdue: bool
    tracker_url: str | None
    created_at: datetime
    done_at: datetime | None

    @classmethod
    def of(cls, item: ActionItem, today: date) -> ActionSummary:
        return cls(
            item.id,
            f"INC-{item.incident_id}",
            item.type.value,
            item.description,
            item.owner,
            item.due,
            item.status,
            is_overdue(item, today),
            item.tracker_url,
            item.created_at,
            item.done_at,
        )


def ensure_action_type(value: str | ActionType) -> ActionType:
    """``value`` as an action type (``mitigate``, ``prevent`` or ``process``, any case)."""
    try:
        return ActionType(str(value).strip().lower())
    except ValueError:
        raise ActionItemError(f"{value!r} is not an action type", hint=TYPES_HINT) from None


def ensure_due_date(value: str | date) -> date:
    """``value`` as a due date, from ``YYYY-MM-DD``."""
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ActionItemError(f"{value!r} is not a date", hint="due dates look like 2026-03-31 (YYYY-MM-DD)") from None


def ensure_tracker_url(value: str | None) -> str | None:
    """``value`` if it is an http(s) URL; None stays None."""
    if value is None or not value.strip():
        return None
    parts = urlsplit(value.strip())
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ActionItemError(
            f"{value!r} is not a tracker URL",
            hint="give the ticket's address, such as https://tracker.example.com/OPS-12",
        )
    return value.strip()


def ensure_text(value: str, what: str) -> str:
    """``value`` without surrounding blanks, which must leave something."""
    if not value.strip():
        raise ActionItemError(f"the action item needs {what}")
    return value.strip()


def is_overdue(item: ActionItem, today: date) -> bool:
    """Open, with a due date before ``today``."""
    return item.status == OPEN and item.due is not None and item.due < today


def add_action(
    session: Session,
    incident: Incident,
    *,
    type: str | ActionType,
    owner: str,
    due: str | date | None,
    text: str,
    tracker_url: str | None = None,
    now: datetime | None = None,
) -> ActionItem:
    """Add an open action item to ``incident`` after validating every field.

    Raises:
        ActionItemError: a field does not validate.
    """
    item = ActionItem(
        incident=incident,
        type=ensure_action_type(type),
        owner=ensure_text(owner, "an owner"),
        due=None if due is None else ensure_due_date(due),
        description=ensure_text(text, "a text"),
        tracker_url=ensure_tracker_url(tracker_url),
        status=OPEN,
        created_at=now or utcnow(),
    )
    session.add(item)
    session.flush()
    return item


def ensure_action(session: Session, ref: int | str) -> ActionItem:
    """The action item ``ref`` (``7`` or ``#7``).

    Raises:
        ActionItemError: ``ref`` is not an id, or no item has it.
    """
    text = str(ref).strip().removeprefix("#")
    if not text.isdigit():
        raise ActionItemError(f"{ref!r} is not an action item id", hint="ids are numbers, as `ops action list` shows")
    item = session.get(ActionItem, int(text))
    if item is None:
        raise ActionItemError(f"no action item #{text}", hint="`ops action list` shows the action items")
    return item


def list_actions(
    session: Session,
    *,
    today: date,
    open_only: bool = False,
    overdue_only: bool = False,
    incident: Incident | None = None,
) -> list[ActionItem]:
    """Action items by due date (undated last), then id; overdue implies open."""
    query = sa.select(ActionItem).options(selectinload(ActionItem.incident))
    if open_only or overdue_only:
        query = query.where(ActionItem.status == OPEN)
    if overdue_only:
        query = query.where(ActionItem.due.is_not(None), ActionItem.due < today)
    if incident is not None:
        query = query.where(ActionItem.incident_id == incident.id)
    query = query.order_by(ActionItem.due.is_(None), ActionItem.due, ActionItem.id)
    return list(session.scalars(query))


def _already_done(item: ActionItem) -> ActionItemError:
    since = f" (since {item.done_at:%Y-%m-%d})" if item.done_at else ""
    return ActionItemError(
        f"action item #{item.id} is already done{since}",
        hint=f"`ops action list --incident INC-{item.incident_id}` shows its items",
    )


def complete_action(session: Session, item: ActionItem, *, at: datetime | None = None) -> ActionItem:
    """Mark ``item`` done: a compare-and-set from ``open``, so of concurrent completions exactly one succeeds.

    Raises:
        ActionItemError: it is done already (perhaps a moment ago, by someone else).
    """
    if item.status == DONE:
        raise _already_done(item)
    result = session.execute(
        sa.update(ActionItem)
        .where(ActionItem.id == item.id, ActionItem.status == OPEN)
        .values(status=DONE, done_at=sa.literal(at or utcnow(), UTCDateTime()))
        .execution_options(synchronize_session=False)
    )
    session.refresh(item, ["status", "done_at"])
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise _already_done(item)
    return item
