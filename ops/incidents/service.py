"""Opening, grouping and moving incidents. Plain functions over a session the caller owns.

**Lifecycle.** ``triggered -> acknowledged -> mitigated -> resolved``; a step
may be skipped forward (a triggered incident can be resolved at once), a
mitigated incident that fails again goes back to triggered, and a resolved
incident is closed for good: a new failure opens a new incident. Every
transition is validated, stamped and written to the timeline, and applied as
a compare-and-set on the status the caller saw, so of two concurrent changes
that both start from one status only one happens.

**Grouping.** Triggers carry a dedup key. While an incident with that key is
open (not resolved), a new trigger appends to its timeline and bumps its
occurrence count instead of opening another one, so a storm of failures with
one cause is one incident. The store enforces it: a partial unique index
allows one open incident per dedup key, and counting is done by the
database, never read, incremented and written back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from ops.errors import IncidentError, TransitionError
from ops.incidents.models import (
    Incident,
    Severity,
    Source,
    Status,
    TimelineEvent,
    UTCDateTime,
    utcnow,
)

ALLOWED: dict[Status, frozenset[Status]] = {
    Status.TRIGGERED: frozenset({Status.ACKNOWLEDGED, Status.MITIGATED, Status.RESOLVED}),
    Status.ACKNOWLEDGED: frozenset({Status.MITIGATED, Status.RESOLVED}),
    Status.MITIGATED: frozenset({Status.RESOLVED, Status.TRIGGERED}),
    Status.RESOLVED: frozenset(),
}
STAMP = {Status.ACKNOWLEDGED: "acknowledged_at", Status.MITIGATED: "mitigated_at", Status.RESOLVED: "resolved_at"}


@dataclass(frozen=True)
class Trigger:
    """Something that should open an incident, or add to the open one with the same dedup key."""

    title: str
    severity: Severity
    source: Source
    dedup_key: str
    environment: str
    text: str
    at: datetime = field(default_factory=utcnow)
    who: str | None = None
    signature: str = ""
    is_drill: bool = False
    flow_name: str | None = None
    deployment: str | None = None
    dataset: str | None = None
    flow_run_id: str | None = None
    flow_run_url: str | None = None
    runbook_id: str | None = None

    def __post_init__(self) -> None:
        ensure_storable(self.dedup_key, "dedup key", LIMITS["dedup_key"], required=True)
        ensure_storable(self.title, "title", LIMITS["title"], required=True)
        ensure_storable(self.environment, "environment", LIMITS["environment"])
        ensure_storable(self.text, "timeline text")
        ensure_storable(self.signature, "signature")
        for name in ("who", "flow_name", "deployment", "dataset", "flow_run_id", "flow_run_url", "runbook_id"):
            ensure_storable(getattr(self, name) or "", name.replace("_", " "), LIMITS[name])


def _string_lengths(table: sa.FromClause) -> dict[str, int]:
    """The declared length of each of ``table``'s string columns that has one."""
    return {
        name: column.type.length
        for name, column in table.columns.items()
        if isinstance(column.type, sa.String) and column.type.length
    }


LIMITS = _string_lengths(Incident.__table__)
LIMITS["who"] = _string_lengths(TimelineEvent.__table__)["who"]


def ensure_storable(value: str, what: str, limit: int | None = None, *, required: bool = False) -> str:
    """``value`` if the store can hold it as a trigger's ``what``, else ``IncidentError`` saying why.

    Both stores must keep it unchanged: no NUL character (PostgreSQL refuses
    it), at most ``limit`` characters (PostgreSQL enforces column lengths),
    and not blank when ``required``.
    """
    if not isinstance(value, str):
        raise IncidentError(f"the {what} must be text, not {type(value).__name__}")
    if required and not value.strip():
        raise IncidentError(f"an incident needs a {what}", hint=f"give a {what} that is not blank")
    if "\x00" in value:
        raise IncidentError(f"the {what} contains a NUL character", hint="remove the \\x00 from it")
    if limit is not None and len(value) > limit:
        raise IncidentError(
            f"the {what} is {len(value)} characters long; at most {limit} fit", hint=f"shorten the {what}"
        )
    return value


def storable(value: str, limit: int | None = None) -> str:
    """``value`` as a trigger built from untrusted text can store it: NUL shown as ``\\x00``, cut to ``limit``.

    For text a failure or an alert brings along (exception messages, label
    values), so that odd input still opens its incident; the change is
    visible (``\\x00``, a closing ``…``), never silent.
    """
    text = value.replace("\x00", "\\x00")
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Opened:
    incident: Incident
    created: bool


def ensure_incident(session: Session, ref: str | int) -> Incident:
    """The incident ``ref`` (``42`` or ``INC-42``), with its timeline, actions and postmortem loaded."""
    text = str(ref).strip().upper().removeprefix("INC-")
    if not text.isdigit():
        raise IncidentError(f"{ref!r} is not an incident id", hint="incident ids look like INC-42 or 42")
    query = (
        sa.select(Incident)
        .where(Incident.id == int(text))
        .options(selectinload(Incident.timeline), selectinload(Incident.actions), selectinload(Incident.postmortem))
    )
    found = session.scalars(query).one_or_none()
    if found is None:
        raise IncidentError(f"no incident INC-{text}", hint="`ops incident list` shows the incidents")
    return found


def open_incident_for(session: Session, dedup_key: str) -> Incident | None:
    """The open (not resolved) incident with this dedup key, if any."""
    query = (
        sa.select(Incident)
        .where(Incident.dedup_key == dedup_key, Incident.status != Status.RESOLVED)
        .order_by(Incident.opened_at.desc())
        .limit(1)
    )
    return session.scalars(query).first()


def record(
    session: Session,
    incident: Incident,
    kind: str,
    source: str,
    text: str,
    *,
    at: datetime | None = None,
    who: str | None = None,
) -> TimelineEvent:
    event = TimelineEvent(incident=incident, at=at or utcnow(), kind=kind, source=source, text=text, who=who)
    session.add(event)
    return event


def _bump(session: Session, t: Trigger) -> Incident | None:
    """Count one more occurrence on the open incident of ``t``'s key, in one statement; None if none is open.

    The update locks the incident's row (PostgreSQL) or runs under the
    database's write lock (SQLite), so until the transaction ends the
    incident is read and changed by this trigger alone.
    """
    seen = sa.literal(t.at, UTCDateTime())
    result = session.execute(
        sa.update(Incident)
        .where(Incident.dedup_key == t.dedup_key, Incident.status != Status.RESOLVED)
        .values(
            occurrences=Incident.occurrences + 1,
            last_seen_at=sa.case((Incident.last_seen_at < seen, seen), else_=Incident.last_seen_at),
        )
        .returning(Incident.id)
        .execution_options(synchronize_session=False)
    )
    found = result.scalar_one_or_none()
    if found is None:
        return None
    return session.get_one(Incident, found, populate_existing=True)


def _insert(session: Session, t: Trigger) -> Incident | None:
    """Open a new incident for ``t``; None if a concurrent trigger opened the one of its key first."""
    incident = Incident(
        title=t.title,
        severity=t.severity,
        environment=t.environment,
        source=t.source,
        status=Status.TRIGGERED,
        dedup_key=t.dedup_key,
        signature=t.signature,
        is_drill=t.is_drill,
        flow_name=t.flow_name,
        deployment=t.deployment,
        dataset=t.dataset,
        flow_run_id=t.flow_run_id,
        flow_run_url=t.flow_run_url,
        runbook_id=t.runbook_id,
        occurrences=1,
        opened_at=t.at,
        last_seen_at=t.at,
    )
    try:
        with session.begin_nested():
            session.add(incident)
            session.flush()
    except IntegrityError:  # the partial unique index: another trigger's incident of this key is open
        return None
    record(session, incident, "opened", t.source.value, t.text, at=t.at, who=t.who)
    session.flush()
    return incident


def _repeat(session: Session, current: Incident, t: Trigger) -> None:
    if current.severity > t.severity:  # SEV1 < SEV2 as strings: a worse trigger raises the severity
        record(session, current, "severity", t.source.value, f"severity {current.severity} -> {t.severity}", at=t.at)
        current.severity = t.severity
    if current.status is Status.MITIGATED:
        transition(session, current, Status.TRIGGERED, who=t.who, at=t.at, text="failed again after mitigation")
    record(session, current, "repeat", t.source.value, t.text, at=t.at, who=t.who)


def trigger(session: Session, t: Trigger, *, attempts: int = 5) -> Opened:
    """Open an incident for ``t``, or count one more occurrence on the open one with its dedup key.

    Safe under any number of concurrent triggers of one key: the increment
    is one ``UPDATE`` (``occurrences = occurrences + 1``), and two inserts
    racing each other are settled by the unique index on open dedup keys,
    the loser counting on the winner's incident. ``created`` is true for
    exactly one trigger per incident.

    Raises:
        IncidentError: the incident of the key kept changing under ``attempts`` tries (it was opened and
            resolved again and again by others).
    """
    for _ in range(attempts):
        current = _bump(session, t)
        if current is not None:
            _repeat(session, current, t)
            return Opened(current, created=False)
        opened = _insert(session, t)
        if opened is not None:
            return Opened(opened, created=True)
    raise IncidentError(
        f"could not record the failure {t.dedup_key!r}: its incident changed under every try",
        hint="run it again; if it keeps happening, look for a process resolving incidents in a loop",
    )


def _refuse(incident: Incident, target: Status) -> TransitionError:
    if target is incident.status:
        return TransitionError(
            f"{incident.ref} is already {target.value}",
            hint=f"`ops incident show {incident.ref}` shows who moved it and when",
        )
    allowed = ", ".join(sorted(s.value for s in ALLOWED[incident.status])) or "nothing (it is closed)"
    return TransitionError(
        f"{incident.ref} is {incident.status.value}; it cannot become {target.value}",
        hint=f"from {incident.status.value} it can become: {allowed}",
    )


def transition(
    session: Session,
    incident: Incident,
    target: Status,
    *,
    who: str | None = None,
    at: datetime | None = None,
    text: str = "",
) -> Incident:
    """Move ``incident`` from the status it has to ``target``, or raise ``TransitionError``.

    The move is a compare-and-set on the status: ``UPDATE … WHERE status =
    <the status the caller saw>``. If another change got there first, nothing
    is written and the error says what the incident is now.

    Raises:
        TransitionError: the lifecycle does not allow the move, or the incident changed meanwhile.
    """
    if target is incident.status or target not in ALLOWED[incident.status]:
        raise _refuse(incident, target)
    if incident.id is None:
        session.flush()
    at = at or utcnow()
    previous = incident.status
    stamped = sa.literal(at, UTCDateTime())
    values: dict[str, object] = {"status": target}
    for status, column in STAMP.items():
        if target is status or (target is Status.RESOLVED and status is Status.MITIGATED):
            values[column] = sa.func.coalesce(getattr(Incident, column), stamped)
    result = session.execute(
        sa.update(Incident)
        .where(Incident.id == incident.id, Incident.status == previous)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.refresh(incident, ["status", *STAMP.values()])
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise TransitionError(
            f"{incident.ref} is now {incident.status.value}: it changed from {previous.value} while it was "
            f"being moved to {target.value}",
            hint=f"`ops incident show {incident.ref}` shows the change; run the "
            "command again if it still should happen",
        )
    record(session, incident, target.value, "ops", text or f"{previous.value} -> {target.value}", at=at, who=who)
    return incident


def assign(session: Session, incident: Incident, assignee: str, *, who: str | None = None) -> Incident:
    """Give ``incident`` to ``assignee``; of two concurrent assignments, the later-recorded one stands."""
    session.execute(
        sa.update(Incident)
        .where(Incident.id == incident.id)
        .values(assignee=assignee)
        .execution_options(synchronize_session=False)
    )
    session.refresh(incident, ["assignee"])
    record(session, incident, "assign", "ops", f"assigned to {assignee}", who=who)  # stamped after the row lock
    return incident


def note(session: Session, incident: Incident, text: str, *, who: str | None = None) -> TimelineEvent:
    if not text.strip():
        raise IncidentError("a note needs some text")
    return record(session, incident, "note", "ops", text, who=who)


@dataclass(frozen=True)
class IncidentFilter:
    statuses: Sequence[Status] = ()
    severities: Sequence[Severity] = ()
    since: datetime | None = None
    include_drills: bool = True
    limit: int = 200
    sources: Sequence[Source] = ()


def list_incidents(session: Session, f: IncidentFilter = IncidentFilter()) -> list[Incident]:
    query = sa.select(Incident).order_by(Incident.opened_at.desc()).limit(f.limit)
    if f.statuses:
        query = query.where(Incident.status.in_(list(f.statuses)))
    if f.severities:
        query = query.where(Incident.severity.in_(list(f.severities)))
    if f.since is not None:
        query = query.where(Incident.opened_at >= f.since)
    if not f.include_drills:
        query = query.where(Incident.is_drill.is_(False))
    if f.sources:
        query = query.where(Incident.source.in_(list(f.sources)))
    return list(session.scalars(query))


def incident_of_flow_run(session: Session, flow_run_id: str) -> Incident | None:
    """The incident a flow run's failure opened or added to, if any (the newest, should there be several).

    An incident names the run that opened it; a failure grouped into an open
    incident names its run in the timeline entry it adds (``... (<id>) failed``).
    """
    entries = sa.select(TimelineEvent.incident_id).where(
        TimelineEvent.text.contains(f"({flow_run_id})", autoescape=True)
    )
    query = (
        sa.select(Incident)
        .where(sa.or_(Incident.flow_run_id == flow_run_id, Incident.id.in_(entries)))
        .order_by(Incident.last_seen_at.desc(), Incident.id.desc())
        .limit(1)
    )
    return session.scalars(query).first()
