"""Building an incident report from the incident store. Plain functions over a session the caller owns."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from ops.incidents.models import Incident, Severity, Source, Status, utcnow
from ops.incidents.service import IncidentFilter, list_incidents
from ops.postmortems.actions import ActionSummary, list_actions
from ops.postmortems.impact import responded_at
from ops.reports.models import DurationStats, RepeatOffender, Report

NO_FLOW = "(no flow)"
MAX_INCIDENTS = 1_000_000


def response_stats(incidents: Sequence[Incident]) -> tuple[DurationStats, DurationStats]:
    """MTTA (opened to first response) and MTTR (opened to resolved) of ``incidents``."""
    acks = [at - i.opened_at for i in incidents if (at := responded_at(i)) is not None]
    fixes = [i.resolved_at - i.opened_at for i in incidents if i.resolved_at is not None]
    return DurationStats.of(acks), DurationStats.of(fixes)


def tally(values: Iterable[str], *, every: Sequence[str] = ()) -> dict[str, int]:
    """Counts of ``values``: the ``every`` names first in their order (zeros included), then the rest by count."""
    counts = Counter(values)
    ordered = {name: counts.pop(name, 0) for name in every}
    ordered.update(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return ordered


def _offender(by: str, key: str, group: Sequence[Incident]) -> RepeatOffender:
    group = sorted(group, key=lambda i: i.opened_at)
    return RepeatOffender(
        by=by,
        key=key,
        incidents=len(group),
        occurrences=sum(i.occurrences for i in group),
        refs=tuple(i.ref for i in group),
        first_opened_at=group[0].opened_at,
        last_opened_at=group[-1].opened_at,
    )


def _groups(incidents: Iterable[Incident], key: Callable[[Incident], str]) -> dict[str, list[Incident]]:
    groups: dict[str, list[Incident]] = defaultdict(list)
    for incident in incidents:
        if value := key(incident):
            groups[value].append(incident)
    return groups


def repeat_offenders(incidents: Sequence[Incident]) -> list[RepeatOffender]:
    """Dedup keys opened two or more times, and failure signatures opened two or more times under several keys.

    A signature whose incidents all share one dedup key adds nothing to that
    key's line, so it is left out.
    """
    found = [_offender("dedup_key", k, g) for k, g in _groups(incidents, lambda i: i.dedup_key).items() if len(g) >= 2]
    found += [
        _offender("signature", s, g)
        for s, g in _groups(incidents, lambda i: i.signature.strip()).items()
        if len(g) >= 2 and len({i.dedup_key for i in g}) > 1
    ]
    return sorted(found, key=lambda o: (-o.incidents, -o.last_opened_at.timestamp(), o.by, o.key))


def build_report(
    session: Session, *, since: datetime, now: datetime | None = None, include_drills: bool = False
) -> Report:
    """The report of incidents opened between ``since`` and ``now`` (chaos drills only if asked)."""
    now = now or utcnow()
    found = list_incidents(session, IncidentFilter(since=since, include_drills=include_drills, limit=MAX_INCIDENTS))
    incidents = [i for i in found if i.opened_at <= now]
    mtta, mttr = response_stats(incidents)
    overdue = list_actions(session, today=now.date(), overdue_only=True)
    return Report(
        since=since,
        until=now,
        drills_included=include_drills,
        incidents=len(incidents),
        open_incidents=sum(i.status is not Status.RESOLVED for i in incidents),
        mtta=mtta,
        mttr=mttr,
        by_severity=tally((i.severity.value for i in incidents), every=[s.value for s in Severity]),
        by_source=tally((i.source.value for i in incidents), every=[s.value for s in Source]),
        by_flow=tally(i.flow_name or NO_FLOW for i in incidents),
        repeat_offenders=tuple(repeat_offenders(incidents)),
        overdue_actions=tuple(ActionSummary.of(a, now.date()) for a in overdue),
    )
