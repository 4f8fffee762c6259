"""``ops report``: incidents over a period: response times, counts, repeat offenders, overdue action items."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from ops.cli import _report_cost
from ops.cli._stores import incident_session
from ops.cli._tables import key, number, print_fitted, text
from ops.cli._utilities import (
    OutputFormat,
    OutputOption,
    cell,
    note,
    print_json,
    with_cli_exception_handling,
)

if TYPE_CHECKING:
    from ops.reports.models import DurationStats, Report

app = typer.Typer(
    help="Reports: incidents over a period (with no command), what runs cost, how to size their workers.",
    invoke_without_command=True,
)
app.command(name="cost")(_report_cost.cost)
app.command(name="rightsize")(_report_cost.rightsize)


def _minutes(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f} min"


def _stats_row(name: str, stats: DurationStats) -> list[Text]:
    return [
        Text(name, style="bold"),
        cell(stats.count),
        cell(_minutes(stats.mean_minutes)),
        cell(_minutes(stats.median_minutes)),
    ]


def _counts_table(title: str, counts: dict[str, int]) -> None:
    print_fitted(
        [text(title), number("Incidents")],
        [[cell(name), cell(count) if count else Text("0", style="dim")] for name, count in counts.items()],
        title=f"By {title.lower()}",
    )


def _print_report(report: Report) -> None:
    drills = "chaos drills included" if report.drills_included else "chaos drills left out"
    note(
        f"{report.incidents} incident(s) opened {report.since:%Y-%m-%d %H:%M} to {report.until:%Y-%m-%d %H:%M} "
        f"UTC, {report.open_incidents} still open ({drills})"
    )
    print_fitted(
        [text("Measure"), number("Incidents"), number("Mean"), number("Median")],
        [
            _stats_row("MTTA (opened to first response)", report.mtta),
            _stats_row("MTTR (opened to resolved)", report.mttr),
        ],
        title="Response times",
    )
    _counts_table("Severity", report.by_severity)
    _counts_table("Source", report.by_source)
    _counts_table("Flow", report.by_flow)
    if report.repeat_offenders:
        print_fitted(
            [
                key("By"),
                text("Key"),
                number("Incidents"),
                number("Occurrences"),
                key("Last opened"),
                text("Incidents opened"),
            ],
            [
                [
                    cell(o.by),
                    cell(o.key),
                    Text(f"{o.incidents:,}", style="bold red"),
                    cell(o.occurrences),
                    cell(o.last_opened_at),
                    cell(", ".join(o.refs)),
                ]
                for o in report.repeat_offenders
            ],
            title="Repeat offenders",
        )
    else:
        note("no repeat offenders", style="green")
    if report.overdue_actions:
        print_fitted(
            [number("#"), key("Incident"), text("Action"), text("Owner", min_width=8), key("Due")],
            [
                [
                    cell(a.id),
                    cell(a.incident),
                    Text(a.description, style="red"),
                    cell(a.owner),
                    Text(str(a.due), style="bold red"),
                ]
                for a in report.overdue_actions
            ],
            title="Overdue action items",
        )
    else:
        note("no overdue action items", style="green")


@app.callback()
@with_cli_exception_handling
def report(
    ctx: typer.Context,
    *,
    since: Annotated[str, typer.Option("--since", help="How far back: 7d, 30d, 12w, 24h.")] = "30d",
    drills: Annotated[bool, typer.Option("--drills", help="Include chaos-drill incidents.")] = False,
    plot: Annotated[
        Path | None, typer.Option("--plot", metavar="PNG", help="Also draw the report to this PNG.", dir_okay=False)
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Report on incidents: MTTA and MTTR, counts by severity, source and flow, repeat offenders, overdue items."""
    if ctx.invoked_subcommand is not None:
        return
    from ops.metrics.timerange import parse_duration
    from ops.reports.service import build_report

    now = datetime.now(timezone.utc)
    start = now - parse_duration(since)
    with incident_session() as session:
        built = build_report(session, since=start, now=now, include_drills=drills)
    if plot is not None:
        from ops.reports.plot import plot_report

        plot_report(built, plot)
        note(f"wrote {plot}", output=output, style="dim")
    if output is OutputFormat.JSON:
        print_json(built)
        return
    _print_report(built)
