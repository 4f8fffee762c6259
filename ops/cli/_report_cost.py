"""``ops report cost`` and ``ops report rightsize``: what runs cost at the configured rates, and how to size them."""

from __future__ import annotations

from datetime import datetime, timezone
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from ops.cli._stores import metadata_store
from ops.cli._tables import key, number, print_fitted, text
from ops.cli._utilities import (
    OutputFormat,
    OutputOption,
    cell,
    load_settings,
    note,
    print_json,
    with_cli_exception_handling,
)

if TYPE_CHECKING:
    from ops.reports.cost import CostLine, CostReport
    from ops.reports.rightsize import Hint


class By(StrEnum):
    """The groups of ``--by``: ops.reports.cost.CostBy's, not imported here so that `ops --help` stays fast."""

    DATASET = "dataset"
    SOURCE = "source"
    REGION = "region"
    DAY = "day"


GB, HOUR = 1e9, 3600.0
DatasetOption = Annotated[str | None, typer.Option("--dataset", "-d", help="Only this dataset.")]


def _line(line: CostLine, *, bold: bool = False) -> list[Text]:
    row = [
        cell(line.key),
        cell(line.runs),
        cell(f"{line.bytes_read / GB:,.2f}"),
        cell(f"{line.bytes_written / GB:,.2f}"),
        cell(f"{line.cpu_seconds / HOUR:,.2f}"),
        cell(f"{line.memory_gb_hours:,.2f}"),
        cell(f"{line.total_cost:,.2f}"),
    ]
    if bold:
        for part in row:
            part.stylize("bold")
    return row


def _print_cost(report: CostReport) -> None:
    scope = f" of {report.dataset}" if report.dataset else ""
    note(
        f"{report.total.runs} run(s){scope} finished {report.since:%Y-%m-%d %H:%M} to "
        f"{report.until:%Y-%m-%d %H:%M} UTC, priced in {report.currency}"
    )
    print_fitted(
        [
            key(report.by.value.capitalize()),
            number("Runs"),
            number("Read GB"),
            number("Wrote GB"),
            number("CPU h"),
            number("Mem GBh"),
            number(report.currency),
        ],
        [*(_line(line) for line in report.lines), _line(report.total, bold=True)],
        title=f"Cost by {report.by.value}",
    )
    if report.unmeasured_runs:
        note(
            f"{report.unmeasured_runs} run(s) were recorded before runs measured their use: "
            "only their bytes read are priced",
            style="yellow",
        )
    if report.unpriced_sources:
        kinds = ", ".join(report.unpriced_sources)
        note(f"no read rate for {kinds}: priced at 0; set SLUICE_COST_READ_PER_GB", style="yellow")


@with_cli_exception_handling
def cost(
    *,
    since: Annotated[str, typer.Option("--since", help="How far back: 7d, 30d, 12w, 24h.")] = "7d",
    dataset: DatasetOption = None,
    by: Annotated[By, typer.Option("--by", help="Sum by dataset, source, region or day.")] = By.DATASET,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """What finished runs cost: bytes read and written, CPU and memory, priced at SLUICE_COST_* rates."""
    from ops.metrics.timerange import parse_duration
    from ops.reports.cost import CostBy, cost_report, load_runs

    settings = load_settings()
    now = datetime.now(timezone.utc)
    start = now - parse_duration(since)
    with metadata_store() as conn:
        runs = load_runs(conn, since=start)
    built = cost_report(runs, settings.cost, by=CostBy(by.value), since=start, until=now, dataset=dataset)
    if output is OutputFormat.JSON:
        print_json(built)
        return
    if not built.total.runs:
        note(f"no finished runs since {start:%Y-%m-%d %H:%M} UTC: nothing to price; try a longer --since")
        return
    _print_cost(built)


def _memory(hint: Hint) -> str:
    from ops.reports.rightsize import size_text

    if hint.worker_memory_bytes is None:
        return "-"
    return size_text(hint.worker_memory_bytes)


def _print_hints(hints: list[Hint]) -> None:
    print_fitted(
        [key("Dataset"), number("Runs"), number("Workers"), number("Memory"), text("Why", min_width=24)],
        [
            [
                cell(h.dataset),
                cell(h.runs),
                cell(h.workers),
                cell(_memory(h)),
                Text("; ".join(h.reasons), style="" if h.workers is not None else "dim"),
            ]
            for h in hints
        ],
        title="Suggested workers and memory per worker",
    )


@with_cli_exception_handling
def rightsize(
    *,
    dataset: DatasetOption = None,
    since: Annotated[str, typer.Option("--since", help="History to read: 30d, 12w.")] = "30d",
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Suggest workers and memory per dataset from its runs' peak memory, CPU seconds, duration and tasks."""
    from ops.metrics.timerange import parse_duration
    from ops.reports.cost import load_runs
    from ops.reports.rightsize import hints

    start = datetime.now(timezone.utc) - parse_duration(since)
    with metadata_store() as conn:
        runs = load_runs(conn, since=start)
    found = hints(runs, dataset=dataset)
    if output is OutputFormat.JSON:
        print_json(found)
        return
    if not found:
        note(f"no finished runs since {start:%Y-%m-%d %H:%M} UTC; try a longer --since")
        return
    _print_hints(found)
