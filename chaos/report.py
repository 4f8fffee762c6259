"""What a drill and a history of drills look like to people: markdown for the flow run, a score over time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chaos.drill import Drill
    from chaos.journal import DrillView
    from chaos.verdicts import Judgement

MARK = {True: "held", False: "**BROKEN**"}


def _cell(text: str) -> str:
    """``text`` whole on one line of a Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def drill_markdown(drill: Drill, judgement: Judgement, incidents: Sequence[str], loops: Sequence[LoopView] = ()) -> str:
    """The drill as a markdown artifact: verdicts, steps, incidents and their loop, how to read the journal."""
    score = "-" if judgement.score is None else f"{judgement.score:.2f}"
    lines = [
        f"# Chaos drill: {drill.experiment.title}",
        "",
        f"**{judgement.status.value.upper()}**, resilience score **{score}**, in {drill.environment} "
        f"(drill `{drill.id}`, experiment `{drill.experiment.name}`).",
        "",
        "| Verdict | Kind | Severity | Result | Checks | Detail |",
        "|---|---|---|---|---|---|",
    ]
    for v in judgement.verdicts:
        lines.append(
            f"| {v.name} | {v.kind.value} | {v.severity.value} | {MARK[v.held]} | {v.checks} | {_cell(v.detail)} |"
        )
    lines += ["", "| Phase | Step | Status | Started | Detail |", "|---|---|---|---|---|"]
    for s in drill.steps:
        lines.append(f"| {s.phase.value} | {s.name} | {s.status} | {s.started_at:%H:%M:%S} | {_cell(s.detail)} |")
    lines += [
        "",
        f"Incidents: {', '.join(incidents) or 'none'}"
        + (" (`ops incident list --source chaos-drill`)" if incidents else ""),
        f"Journal: `ops chaos report --drill {drill.id}`",
    ]
    return "\n".join(lines + loop_markdown(loops))


@dataclass(frozen=True)
class LoopView:
    """One drill incident through the on-call loop: fault, alert, incident, suspects, runbook, postmortem draft."""

    ref: str
    fault: str
    alert: str
    runbook: str | None
    suspects: str
    cause: str
    postmortem: str


def loop_markdown(loops: Sequence[LoopView], draft_lines: int = 40) -> list[str]:
    """The loop of each incident as markdown lines: a table, then each postmortem draft's opening lines."""
    if not loops:
        return []
    lines = [
        "",
        "## The loop",
        "",
        "| Incident | Fault | Alert | Top suspects | Cause | Runbook |",
        "|---|---|---|---|---|---|",
    ]
    for loop in loops:
        cells = (loop.ref, loop.fault, loop.alert, loop.suspects or "-", loop.cause or "-", loop.runbook or "-")
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    for loop in loops:
        draft = loop.postmortem.splitlines()
        more = len(draft) - draft_lines
        lines += ["", f"### Postmortem draft of {loop.ref}", "", *draft[:draft_lines]]
        lines += ["", f"… {more} more lines: `ops postmortem create {loop.ref}`"] if more > 0 else []
    return lines


@dataclass(frozen=True)
class TrendPoint:
    """Drills of one ISO week: how many, how many passed, their mean resilience score."""

    period: str
    drills: int
    passed: int
    score: float | None


def week_of(moment: datetime) -> str:
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def trend(drills: Sequence[DrillView]) -> list[TrendPoint]:
    """The resilience score over time, one point per ISO week, oldest first."""
    weeks: dict[str, list[DrillView]] = {}
    for d in drills:
        weeks.setdefault(week_of(d.started_at), []).append(d)
    points = []
    for period in sorted(weeks):
        group = weeks[period]
        scores = [d.score for d in group if d.score is not None]
        points.append(
            TrendPoint(
                period,
                len(group),
                sum(d.status == "passed" for d in group),
                round(sum(scores) / len(scores), 4) if scores else None,
            )
        )
    return points
