"""``ops quarantine replay|release|discard``: bring quarantined rows back, or rule them out, each row once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from ops.cli._tables import number, print_fitted, text
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
    from sluice.replay import ReplayReport
    from sluice.settings import Settings

T = TypeVar("T")

RowIds = Annotated[list[str], typer.Argument(help="Row ids, as `ops quarantine list -o json` shows them (row_id).")]
DatasetOption = Annotated[
    str | None, typer.Option("--dataset", "-d", help="The rows' dataset (found from the ids when omitted).")
]
NoteOption = Annotated[str, typer.Option("--note", help="Why: recorded with the decision in the access audit.")]


def _print_report(report: ReplayReport) -> None:
    verb = "would land" if report.dry_run else "landed"
    rows = [
        ["undecided rows matched", cell(report.considered)],
        ["in the lake already", cell(len(report.already_landed))],
        [f"pass now: {verb}", cell(len(report.landing))],
        ["still failing: stay quarantined", cell(len(report.still_failing))],
        ["never split into fields", cell(len(report.unsplit))],
    ]
    if not report.dry_run:
        rows += [["written", cell(report.rows_written)], ["duplicate", cell(report.rows_duplicate)]]
        rows += [["lake version", cell(report.lake_version)]]
    print_fitted([text("Rows"), number("Count")], rows, title=f"{report.action} {report.run_id} of {report.dataset}")
    if report.dry_run:
        note("dry run: nothing was committed or recorded", style="dim")


def _emit(report: ReplayReport, output: OutputFormat) -> None:
    if output is OutputFormat.JSON:
        print_json(report)
    else:
        _print_report(report)


def _usage(exc: Exception, param: str) -> typer.BadParameter:
    return typer.BadParameter(str(exc).split("\n  hint:")[0], param_hint=param)


def replay(
    dataset: Annotated[str, typer.Argument(help="The dataset whose quarantined rows to replay.")],
    *,
    reason: Annotated[str | None, typer.Option(help="Only rows with this reason code, e.g. not_allowed_value.")] = None,
    run: Annotated[str | None, typer.Option("--run", "-r", help="Only rows quarantined by this run id.")] = None,
    since: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Only rows ingested on or after this date.")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would land; commit and record nothing.")] = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Re-validate quarantined rows against the current contract; commit those that pass, each once."""
    from ops.cli.quarantine import check_reason
    from sluice.paths import ensure_dataset_name
    from sluice.replay import ReplayRequest
    from sluice.replay import replay as run_replay

    ensure_dataset_name(dataset)
    check_reason(reason)
    request = ReplayRequest(dataset, reason, run, since.date() if since else None, dry_run)
    _emit(run_replay(request, load_settings()), output)


def _decide(row_ids: list[str], dataset: str | None, act: Callable[[str, list[str], Settings], T]) -> tuple[str, T]:
    """``act(dataset, ids, settings)`` on the rows ``row_ids`` name; unknown or decided rows are a usage error."""
    from sluice.lake.quarantine_ledger import UnknownRowError, ensure_row_id
    from sluice.paths import ensure_dataset_name
    from sluice.replay import dataset_of

    if dataset is not None:
        ensure_dataset_name(dataset)
    try:
        ids = [ensure_row_id(i) for i in row_ids]
        settings = load_settings()
        found = dataset_of(ids, dataset, settings)
        return found, act(found, ids, settings)
    except UnknownRowError as exc:
        raise _usage(exc, "ROW_IDS") from None


def release(
    row_ids: RowIds,
    *,
    note_text: NoteOption,
    dataset: DatasetOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Commit quarantined rows as they are (a steward's decision, audited); they must fit the lake's types."""
    from sluice.replay import release as run_release

    _, report = _decide(row_ids, dataset, lambda found, ids, settings: run_release(found, ids, note_text, settings))
    _emit(report, output)


def discard(
    row_ids: RowIds,
    *,
    note_text: NoteOption,
    dataset: DatasetOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Rule quarantined rows out: never replayed again (a steward's decision, audited)."""
    from sluice.replay import discard as run_discard

    found, count = _decide(row_ids, dataset, lambda ds, ids, settings: run_discard(ds, ids, note_text, settings))
    if output is OutputFormat.JSON:
        print_json({"dataset": found, "discarded": count})
    else:
        note(f"discarded {count} row(s) of {found}; they are never replayed")


def register(app: typer.Typer) -> None:
    app.command("replay")(with_cli_exception_handling(replay))
    app.command("release")(with_cli_exception_handling(release))
    app.command("discard")(with_cli_exception_handling(discard))
