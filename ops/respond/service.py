"""Opening incidents with their runbook linked: the entry point for alerts, flow failures, drills and people."""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ops.incidents.models import Incident
from ops.incidents.service import Opened, Trigger, record, trigger
from ops.runbooks.catalog import Runbook, load_runbooks
from ops.runbooks.match import MatchContext, best


def correlated_resource(incident: Incident) -> str | None:
    """The resource type of the top suspect of the latest ``ops correlate`` result on the timeline, if any."""
    import re

    for event in sorted(incident.timeline, key=lambda e: e.at, reverse=True):
        found = re.search(r"resource=(cpu|memory|network|disk)\b", event.text) if event.kind == "correlation" else None
        if found:
            return found[1]
    return None


def context_of(incident: Incident, resource: str | None = None) -> MatchContext:
    """What runbook matching knows of ``incident``; the resource defaults to the latest correlation's."""
    return MatchContext.of(
        title=incident.title,
        signature=incident.signature,
        source=incident.source.value,
        dedup_key=incident.dedup_key,
        flow_name=incident.flow_name,
        resource=resource or correlated_resource(incident),
    )


def raise_incident(session: Session, t: Trigger, books: list[Runbook] | None = None) -> Opened:
    """Open (or append to) the incident for ``t``, linking the best-matching runbook when none is given."""
    if t.runbook_id is None:
        ctx = MatchContext.of(
            title=t.title, signature=t.signature, source=t.source.value, dedup_key=t.dedup_key, flow_name=t.flow_name
        )
        if linked := best(ctx, books if books is not None else load_runbooks()):
            t = replace(t, runbook_id=linked)
    opened = trigger(session, t)
    if opened.created and opened.incident.runbook_id:
        record(session, opened.incident, "runbook", "ops", f"linked runbook {opened.incident.runbook_id}", at=t.at)
    return opened


def _milestone(n: int) -> bool:
    """Repeats worth a message: 2, 5, 10, 20, 50, 100, 200, ... occurrences (a storm is not a flood)."""
    while n >= 10 and n % 10 == 0:
        n //= 10
    return n in (1, 2, 5)


def _pages(incident: Incident) -> bool:
    """Drills never page unless ``SLUICE_CHAOS_PAGE=true``."""
    from sluice.settings import get_settings

    return not incident.is_drill or get_settings().chaos.page


@dataclass(frozen=True)
class Announcement:
    """The notification an incident change queues: an action, and the note of an ``update``."""

    action: str
    text: str | None = None


def announcement(incident: Incident, created: bool) -> Announcement | None:
    """What a new incident (``created``) or a repeat of an open one announces, if anything.

    A new incident triggers; a repeat posts an update at milestone counts
    only; a drill announces nothing unless ``SLUICE_CHAOS_PAGE=true``.
    """
    if not _pages(incident):
        return None
    if created:
        return Announcement("trigger")
    if incident.occurrences >= 2 and _milestone(incident.occurrences):
        return Announcement("update", f"failed again: {incident.occurrences} occurrences")
    return None


def announce_opened(session: Session, opened: Opened) -> None:
    """Queue the page and the Slack message of a new incident, or of a milestone repeat of an open one."""
    from ops.notify import enqueue

    if found := announcement(opened.incident, opened.created):
        enqueue(session, opened.incident, found.action, text=found.text)


def announce_change(session: Session, incident: Incident, kind: str, text: str = "") -> None:
    """Queue the notifications of a transition or a note (``acknowledged``, ``mitigated``, ``resolved``, ``note``)."""
    from ops.notify import enqueue

    if not _pages(incident):
        return
    if kind == "acknowledged":
        enqueue(session, incident, "acknowledge")
    elif kind == "resolved":
        enqueue(session, incident, "resolve")
    else:
        enqueue(session, incident, "update", text=f"{kind}: {text}" if text else kind)


def flush_notifications(engine: Engine) -> None:
    """After the commit: one bounded attempt at what is due; a background deliverer sends the rest.

    Returns within ``SLUICE_NOTIFY_ATTEMPT_BUDGET`` + ``SLUICE_NOTIFY_ATTEMPT_TIMEOUT``
    (1 s) however PagerDuty or Slack behave; see :mod:`ops.notify.background`.
    """
    import logging

    from ops.notify.background import deliver_soon

    try:
        report = deliver_soon(engine)
    except Exception:  # the incident is stored; a notification problem must not undo or hide it
        logging.getLogger(__name__).exception("could not deliver incident notifications")
        return
    log = logging.getLogger(__name__)
    if report is None or report.pending or report.waiting:
        log.warning(
            "%s notification(s) not delivered yet; a background deliverer retries them (`ops notify list`)",
            "some" if report is None else report.pending + report.waiting,
        )
    if report is not None and report.failed:
        log.warning("%d notification(s) rejected for good (`ops notify list --status failed`)", report.failed)
