"""``ops runs``: ingestion run records from the metadata store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from ops.cli._stores import metadata_store
from ops.cli._tables import key, number, print_fitted, text
from ops.cli._utilities import (
    OutputFormat,
    OutputOption,
    cell,
    exit_with_success,
    print_json,
    with_cli_exception_handling,
)
from sluice.errors import SluiceError

if TYPE_CHECKING:
    from sluice.runs.completeness import TotalsCheck
    from sluice.runs.records import RunReport

app = typer.Typer(help="Ingestion runs: what each read, wrote, quarantined and dropped.", no_args_is_help=True)


KEYED_COUNTS = ("rows_updated", "rows_deleted", "rows_unchanged")  # upsert and scd2 runs
REFERENCE_COUNTS = ("rows_held", "rows_orphaned")  # datasets with references (sluice.validate.references)


@dataclass(frozen=True)
class Conservation:
    """Whether every row a run read is accounted for.

    read == written + updated + deleted + unchanged + quarantined + duplicate + held (updated, deleted and
    unchanged are 0 on append; held counts rows kept back for a parent: sluice.lake.held).
    """

    holds: bool
    rows_read: int
    rows_accounted: int

    @classmethod
    def of(cls, report: RunReport) -> Conservation:
        from sluice.runs.records import applied

        accounted = applied(report) + report.rows_quarantined + report.rows_held
        return cls(report.rows_read == accounted, report.rows_read, accounted)


@dataclass(frozen=True)
class RunSummary:
    """One line of ``ops runs list``."""

    run_id: str
    dataset: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    rows_read: int
    rows_written: int
    rows_quarantined: int
    rows_duplicate: int
    files_committed: int
    files_skipped: int
    files_failed: int
    conserved: bool

    @classmethod
    def of(cls, r: RunReport) -> RunSummary:
        return cls(
            r.run_id,
            r.dataset,
            r.status,
            r.started_at,
            r.finished_at,
            r.rows_read,
            r.rows_written,
            r.rows_quarantined,
            r.rows_duplicate,
            len(r.files_committed),
            len(r.files_skipped),
            len(r.files_failed),
            Conservation.of(r).holds,
        )


def _conserved_text(holds: bool) -> Text:
    return Text("yes", style="green") if holds else Text("NO", style="bold red")


@app.command("list")
@with_cli_exception_handling
def list_runs(
    *,
    dataset: Annotated[str | None, typer.Option("--dataset", "-d", help="Only runs of this dataset.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many runs, newest first.")] = 20,
    wide: Annotated[
        bool, typer.Option("--wide", help="Also show start times and file counts on a narrow terminal.")
    ] = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List recent runs with their row counts and whether those counts add up (every count whole at 80 columns)."""
    from sluice.paths import ensure_dataset_name
    from sluice.runs.metastore import list_runs as read_runs

    if dataset is not None:
        ensure_dataset_name(dataset)
    with metadata_store() as conn:
        runs = [RunSummary.of(r) for r in read_runs(conn, dataset=dataset, limit=limit)]
    if output is OutputFormat.JSON:
        print_json(runs)
        return
    if not runs:
        exit_with_success("no runs recorded yet" + (f" for {dataset}" if dataset else ""))
    _print_runs(runs, wide=wide)


def _print_runs(runs: list[RunSummary], *, wide: bool) -> None:
    """One line per run; every count is whole. Start times and file counts are secondary (``--wide``)."""
    rows = [
        [
            cell(r.run_id[:8]),
            cell(r.dataset),
            Text(r.status, style="red" if r.status == "failed" else ""),
            cell(r.started_at),
            cell(r.rows_read),
            cell(r.rows_written),
            cell(r.rows_quarantined),
            cell(r.rows_duplicate),
            cell(f"{r.files_committed}/{r.files_skipped}/{r.files_failed}"),
            _conserved_text(r.conserved),
        ]
        for r in runs
    ]
    print_fitted(
        [
            key("Run"),
            text("Dataset"),
            key("Status"),
            key("Started", wide=True),
            number("Read"),
            number("Written"),
            number("Quarantined"),
            number("Duplicate"),
            number("Files c/s/f", wide=True),
            key("OK"),
        ],
        rows,
        wide=wide,
    )


def _print_run(report: RunReport, conservation: Conservation) -> None:
    rows: list[tuple[str, object]] = [
        ("dataset", report.dataset),
        ("source", report.source),
        ("env", report.env),
        ("status", report.status),
        ("started_at", report.started_at),
        ("finished_at", report.finished_at),
        ("rows_read", report.rows_read),
        ("rows_written", report.rows_written),
        ("rows_quarantined", report.rows_quarantined),
        ("rows_duplicate", report.rows_duplicate),
        *[(name, getattr(report, name)) for name in KEYED_COUNTS if getattr(report, name)],
        *[(name, getattr(report, name)) for name in REFERENCE_COUNTS if getattr(report, name)],
        ("bytes_read", report.bytes_read),
        ("lake_version", report.lake_version),
        ("watermark", report.watermark),
    ]
    fields = [[Text(name, style="bold"), cell(value)] for name, value in rows]
    keyed = " + updated + deleted + unchanged" if any(getattr(report, n) for n in KEYED_COUNTS) else ""
    held = " + held" if report.rows_held else ""
    check = (
        f"{conservation.rows_read:,} read, {conservation.rows_accounted:,} written{keyed} + quarantined + duplicate"
        f"{held}"
    )
    fields.append([Text("conserved", style="bold"), _conserved_text(conservation.holds) + Text(f" ({check})")])
    if report.error:
        fields.append([Text("error", style="bold"), Text(report.error, style="red")])
    print_fitted([key("Field"), text("Value")], fields, show_header=False, title=f"run {report.run_id}")


def _print_files(report: RunReport) -> None:
    rows = []
    for f in report.files:
        style = {"failed": "red", "skipped": "dim"}.get(f.status.value, "")
        rows.append(
            [
                cell(f.uri),
                Text(f.status.value, style=style),
                cell(f.rows_read),
                cell(f.rows_quarantined),
                cell(f.encoding),
                Text(f.error, style="red") if f.error else cell(None),
            ]
        )
    print_fitted(
        [text("File"), key("Status"), number("Read"), number("Quarantined"), key("Encoding"), text("Error")],
        rows,
        title="files",
    )


def _verdict(check: TotalsCheck) -> Text:
    if not check.comparable:
        return Text(f"not comparable: {check.not_comparable}", style="yellow")
    return Text("agree", style="green") if check.agrees else Text(f"disagree ({check.policy})", style="red")


def _print_totals(report: RunReport) -> None:
    """Each batch's control totals: what the source says beside what the run read, and the verdict."""

    def said(rows: int | None, total: float | None, column: str | None) -> str:
        if rows is None:
            return "-"
        return f"{rows:,} rows" + (f", sum {total}" if column is not None else "")

    rows = [
        [
            cell(c.source),
            cell(said(c.source_rows, c.source_sum, c.column)),
            cell(said(c.read_rows, c.read_sum, c.column)),
            _verdict(c),
        ]
        for c in report.control_totals
    ]
    print_fitted(
        [text("Source"), text("Source says"), text("Landed (read)"), key("Totals")],
        rows,
        title="control totals",
    )


@app.command("show")
@with_cli_exception_handling
def show(
    run_id: Annotated[str, typer.Argument(help="The run id or a unique prefix of it, as `ops runs list` shows it.")],
    *,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Show one run: its counts, each file with its status and error, and whether the counts add up."""
    from sluice.runs.metastore import get_run

    with metadata_store() as conn:
        report = get_run(conn, run_id)
    if report is None:
        raise SluiceError(f"no run {run_id!r} in the metadata store", hint="list recent runs with `ops runs list`")
    conservation = Conservation.of(report)
    if output is OutputFormat.JSON:
        print_json({**report.to_dict(), "conservation": conservation})
        return
    _print_run(report, conservation)
    if report.files:
        _print_files(report)
    if report.control_totals:
        _print_totals(report)
