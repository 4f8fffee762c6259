"""Ranking runbooks for an incident, with the reasons for each match.

Points per runbook (every one explained in the result):

=================================================  =====
the incident's alert rule is in ``alert_rules``     10
the exception type is in ``exceptions``              8
one of its base classes is in ``exceptions``         4
the resource type of the top correlated suspect
(cpu, memory, network, disk) is one of the ``tags``  3
the flow is in ``flows``                             2
each other tag found in the title or signature       1
=================================================  =====

Names compare case-insensitively and by their last dotted part
(``httpx.ConnectError`` matches ``ConnectError``). Only runbooks with points
are candidates. The best one with *evidence* (points from anything but the
flow's name) is linked to the incident. A flow's name says which pipeline
failed, not why: when nothing else matches, the generic triage runbook
:data:`FALLBACK` is linked instead of whichever cause-specific runbook of
that flow comes first by id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ops.incidents.signature import signature_fields
from ops.runbooks.catalog import Runbook

WORD = re.compile(r"[a-z0-9_]+")
FLOW_POINTS = 2
FALLBACK = "flow-run-failed"
RESOURCES = ("cpu", "memory", "network", "disk")


@dataclass(frozen=True)
class MatchContext:
    alert_rule: str | None = None
    exception_type: str | None = None
    bases: tuple[str, ...] = ()
    flow_name: str | None = None
    resource: str | None = None
    words: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(
        cls,
        *,
        title: str = "",
        signature: str = "",
        source: str = "",
        dedup_key: str = "",
        flow_name: str | None = None,
        resource: str | None = None,
    ) -> MatchContext:
        fields = signature_fields(signature)
        alert = dedup_key.split(":", maxsplit=1)[0] if source == "alert" and ":" in dedup_key else None
        rule = fields.get("alert") or alert
        bases = tuple(b for b in fields.get("bases", "").split(",") if b and b != "-")
        return cls(
            alert_rule=rule,
            exception_type=fields.get("exception"),
            bases=bases,
            flow_name=flow_name or fields.get("flow"),
            resource=resource,
            words=frozenset(WORD.findall(f"{title} {signature}".lower())),
        )


@dataclass(frozen=True)
class Candidate:
    runbook_id: str
    title: str
    score: int
    reasons: list[str]
    evidence: int = 0  # points from anything but the flow's name


def _name(text: str) -> str:
    return text.rsplit(".", 1)[-1].lower()


def score(book: Runbook, ctx: MatchContext) -> Candidate:
    points, reasons = 0, []
    m = book.matches
    if ctx.alert_rule and ctx.alert_rule in m.alert_rules:
        points += 10
        reasons.append(f"alert rule {ctx.alert_rule} is listed")
    exceptions = {_name(e) for e in m.exceptions}
    if ctx.exception_type and _name(ctx.exception_type) in exceptions:
        points += 8
        reasons.append(f"exception {ctx.exception_type} is listed")
    else:
        for base in ctx.bases:
            if _name(base) in exceptions:
                points += 4
                reasons.append(f"{ctx.exception_type} is a {base}, which is listed")
                break
    tags = {t.lower() for t in m.tags}
    if ctx.resource and ctx.resource.lower() in tags:
        points += 3
        reasons.append(f"the top correlated suspect is {ctx.resource}")
    flow_listed = bool(ctx.flow_name) and ctx.flow_name in m.flows
    if flow_listed:
        points += FLOW_POINTS
        reasons.append(f"flow {ctx.flow_name} is listed")
    for tag in sorted(tags - {ctx.resource or ""}):
        if tag in ctx.words or (set(WORD.findall(tag)) <= ctx.words and WORD.findall(tag)):
            points += 1
            reasons.append(f"tag {tag!r} appears in the incident")
    return Candidate(book.id, book.title, points, reasons, evidence=points - (FLOW_POINTS if flow_listed else 0))


def rank(ctx: MatchContext, books: list[Runbook]) -> list[Candidate]:
    """Runbooks with points, best first (ties by id)."""
    found = [c for c in (score(b, ctx) for b in books) if c.score > 0]
    return sorted(found, key=lambda c: (-c.score, c.runbook_id))


def best(ctx: MatchContext, books: list[Runbook]) -> str | None:
    """The runbook to link: the best-ranked one with evidence, else :data:`FALLBACK` (if the catalog has it)."""
    ranked = rank(ctx, books)
    if found := next((c for c in ranked if c.evidence), None):
        return found.runbook_id
    if ranked and any(b.id == FALLBACK for b in books):
        return FALLBACK
    return ranked[0].runbook_id if ranked else None
