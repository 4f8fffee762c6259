"""``ops alerts``: evaluate alert rules, list firing alerts and the rules themselves.

Rules come from ``--rules FILE`` or Sluice's default rule set; the state of
firing alerts and the history of transitions live under
``<SLUICE_HOME>/alerts``. Transitions are also logged to the console.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from ops.cli._metric_options import labels_text, metrics_store, parse_time_range
from ops.cli._tables import WIDE_COLUMNS, key, number, print_fitted, text
from ops.cli._utilities import (
    OutputFormat,
    OutputOption,
    cell,
    console,
    exit_with_success,
    load_settings,
    note,
    print_json,
    print_table,
    with_cli_exception_handling,
)

if TYPE_CHECKING:
    from ops.alerts.service import AlertResult

app = typer.Typer(help="Alert rules: evaluate them, list firing alerts.", no_args_is_help=True)

RulesOption = Annotated[Path | None, typer.Option("--rules", help="Rule file (YAML). (default: Sluice's rules)")]
STATUS_STYLE = {"firing": "bold red", "ok": "green", "insufficient": "yellow"}


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:,.4g}"


def _results_table(results: list[AlertResult], *, wide: bool) -> None:
    """One line per series, firing first. Numbers are never cut; a long series name ends in an ellipsis.

    Below ``WIDE_COLUMNS`` (and without ``--wide``) the share of points outside
    the band and the runbook are left out; `ops alerts list` shows the
    runbook of each firing alert.
    """
    from rich import box
    from rich.table import Table

    wide = wide or console.width >= WIDE_COLUMNS
    rows = []
    for r in sorted(results, key=lambda r: (r.status != "firing", r.rule_id)):
        band = f"{_num(r.lower)} … {_num(r.upper)}" if r.lower is not None or r.upper is not None else "-"
        row = [
            Text(r.status.upper() if r.status == "firing" else r.status, style=STATUS_STYLE[r.status]),
            cell(r.rule_id),
            cell(f"{r.metric}{{{labels_text(r.labels)}}}"),
            cell(_num(r.value)),
            cell(band),
        ]
        rows.append([*row, *([cell(f"{r.share:.0%} of {r.points}"), cell(r.runbook)] if wide else [])])
    headers = ["Status", "Rule", "Series", "Value", "Band", *(["Share", "Runbook"] if wide else [])]
    widths = [max([len(header), *(len(row[i].plain) for row in rows)]) for i, header in enumerate(headers)]
    series = headers.index("Series")  # the one column that gives way: it ends in an ellipsis
    room = console.width - (sum(widths) - widths[series]) - (len(headers) + 1)  # a space between and around
    widths[series] = widths[series] if wide else max(12, min(widths[series], room))
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 0))  # the box divides columns by a space
    for header, width in zip(headers, widths, strict=True):
        table.add_column(
            header,
            no_wrap=True,
            width=width,
            overflow="ellipsis",
            justify="right" if header in ("Value", "Band", "Share") else "left",
        )
    for row in rows:
        table.add_row(*row)
    print_table(table, sum(widths) + len(headers) + 1)


@app.command("check")
@with_cli_exception_handling
def check(
    *,
    rules: RulesOption = None,
    at: Annotated[str | None, typer.Option(help="Evaluate as of this instant, ISO 8601. (default: now)")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Evaluate only: keep the state, send nothing.")] = False,
    wide: Annotated[
        bool,
        typer.Option(
            "--wide", help="Also show each series' share outside its band and the rule's runbook on a narrow terminal."
        ),
    ] = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Evaluate every rule now: fire new alerts, resolve recovered ones, report each series' state.

    A firing alert opens (or adds to) an incident with the rule's runbook; a
    resolved one mitigates it (`ops incident list`).
    """
    import logging

    from rich.logging import RichHandler

    from ops.alerts.events import AlertSink, ConsoleSink
    from ops.alerts.rules import load_rules
    from ops.alerts.service import run_check
    from ops.baselines.service import open_registry

    ruleset = load_rules(rules)
    when = parse_time_range(None, None, at).end
    home = load_settings().home
    from ops.cli._stores import incident_engine
    from ops.respond.sink import IncidentSink

    sinks: list[AlertSink] = [ConsoleSink(), IncidentSink(incident_engine(), load_settings().env)]
    logger, shown = logging.getLogger("ops.alerts"), RichHandler(show_path=False, show_time=False)
    if output is OutputFormat.TABLE:
        logger.addHandler(shown)  # transitions on the console, for this check only
    try:
        evaluation = run_check(ruleset, metrics_store(), open_registry(home), home, when, sinks, dry_run=dry_run)
    finally:
        logger.removeHandler(shown)
    if output is OutputFormat.JSON:
        print_json(evaluation)
        return
    if evaluation.results:
        _results_table(evaluation.results, wide=wide)
    firing = sum(r.status == "firing" for r in evaluation.results)
    note(
        f"{len(ruleset.rules)} rules, {len(evaluation.results)} series, {firing} firing, "
        f"{len(evaluation.events)} transitions" + (" (dry run: nothing saved or sent)" if dry_run else "")
    )
    if evaluation.unmatched_rules:
        note(
            f"no data yet for: {', '.join(evaluation.unmatched_rules)} (`ops metrics collect` records run metrics)",
            style="dim",
        )
    if any(r.status == "insufficient" for r in evaluation.results):
        note(
            "insufficient: too few points for a dynamic band; fit a baseline (`ops baseline fit`) or wait for "
            "more runs",
            style="yellow",
        )


@app.command("list")
@with_cli_exception_handling
def list_alerts(
    *,
    history: Annotated[int, typer.Option(min=0, help="Also show the last N transitions (fired, resolved).")] = 0,
    wide: Annotated[bool, typer.Option("--wide", help="Also show each alert's runbook on a narrow terminal.")] = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List the alerts firing now (as of the last `ops alerts check`)."""
    from ops.alerts.events import JsonLinesSink
    from ops.alerts.service import alerts_dir
    from ops.alerts.state import AlertState

    folder = alerts_dir(load_settings().home)
    firing = sorted(AlertState(folder / "state.json").load().values(), key=lambda a: (a.severity, a.since))
    events = JsonLinesSink(folder / "events.jsonl").read()[-history:] if history else []
    if output is OutputFormat.JSON:
        print_json({"firing": firing, "history": events} if history else firing)
        return
    if firing:
        print_fitted(
            [key("Severity"), text("Rule"), text("Series"), key("Since"), number("Value"), key("Runbook", wide=True)],
            [
                [
                    Text(a.severity, style="bold red"),
                    cell(a.rule_id),
                    cell(f"{a.metric}{{{labels_text(a.labels)}}}"),
                    cell(a.since),
                    cell(_num(a.value)),
                    cell(a.runbook),
                ]
                for a in firing
            ],
            wide=wide,
        )
    else:
        note("no alerts firing", style="green")
    if events:
        print_fitted(
            [key("At"), key("Status"), text("Rule"), text("Series"), number("Value")],
            [
                [
                    cell(e.at),
                    Text(e.status.value, style="red" if e.status.value == "firing" else "green"),
                    cell(e.rule_id),
                    cell(f"{e.metric}{{{labels_text(e.labels)}}}"),
                    cell(_num(e.value)),
                ]
                for e in events
            ],
            title="Transitions",
        )


@app.command("rules")
@with_cli_exception_handling
def list_rules(
    *,
    rules: RulesOption = None,
    wide: Annotated[bool, typer.Option("--wide", help="Also show each rule's runbook on a narrow terminal.")] = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List the alert rules (validating the file)."""
    from ops.alerts.rules import load_rules

    ruleset = load_rules(rules)
    if output is OutputFormat.JSON:
        print_json([r.model_dump(mode="json") for r in ruleset.rules])
        return
    if not ruleset.rules:
        exit_with_success("the rule file holds no rules")
    rows = []
    for r in ruleset.rules:
        dyn = r.threshold.dynamic
        threshold = f"{r.direction.value} band z={dyn.z:g}" if dyn else f"{r.direction.value} {r.threshold.static:g}"
        windows = (
            f"{r.trigger.fraction:.0%}/{_dur(r.trigger.window.total_seconds())} → "
            f"≤{r.recovery.fraction:.0%}/{_dur(r.recovery.window.total_seconds())}"
        )
        rows.append(
            [cell(r.id), cell(r.selector), cell(threshold), cell(windows), cell(r.severity.value), cell(r.runbook)]
        )
    print_fitted(
        [
            text("Rule"),
            text("Selector"),
            text("Threshold", min_width=8),
            text("Fires / resolves", min_width=8),
            key("Severity"),
            key("Runbook", wide=True),
        ],
        rows,
        wide=wide,
    )


def _dur(seconds: float) -> str:
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
