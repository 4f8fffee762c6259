"""``ops quarantine``: the rows that failed validation, why, and their original values.

Values of columns a contract marks ``pii`` are masked unless ``--reveal-pii``, which
decrypts the encrypted ones (tokens stay tokens) and records the access in the audit.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from ops.cli._tables import key, number, print_fitted, text
from ops.cli._utilities import (
    OutputFormat,
    OutputOption,
    cell,
    exit_with_success,
    load_settings,
    note,
    print_json,
    warn,
    with_cli_exception_handling,
)
from sluice.errors import SluiceError
from sluice.paths import ensure_dataset_name

if TYPE_CHECKING:
    from pathlib import Path

    from deltalake import DeltaTable

    from sluice.lake.quarantine import QuarantineEntry, ReasonCount
    from sluice.settings import Settings

app = typer.Typer(help="Inspect rows that failed validation; replay, release or discard them.", no_args_is_help=True)

RevealOption = Annotated[
    bool,
    typer.Option(
        "--reveal-pii", help="Show values of PII columns instead of ***, decrypting encrypted ones (audited)."
    ),
]
PurposeOption = Annotated[
    str, typer.Option("--purpose", help="Why PII is revealed; recorded in the access audit with --reveal-pii.")
]
RunOption = Annotated[str | None, typer.Option("--run", "-r", help="Only entries of this run id.")]


def _open(settings: Settings) -> DeltaTable | None:
    from sluice.lake.quarantine import open_quarantine

    return open_quarantine(settings.quarantine_root(), dict(settings.lake_storage_options) or None)


def check_reason(reason: str | None) -> None:
    from sluice.validate.quality import Reason

    known = [r.value for r in Reason]
    if reason is not None and reason not in known:
        raise typer.BadParameter(
            f"{reason!r} is not a reason code; use one of: {', '.join(known)}", param_hint="--reason"
        )


def _audit_reveal(entries: list[QuarantineEntry], contracts_root: Path, purpose: str) -> None:
    """Record the clear PII columns about to be shown, per dataset, before anything is shown."""
    from sluice.governance.audit import REVEAL_PII, record_access
    from sluice.lake.quarantine import pii_columns

    for dataset in sorted({e.dataset for e in entries}):
        columns = pii_columns(dataset, contracts_root)
        shown = sorted(columns) if columns is not None else ["(every column: no contract)"]
        rows = sum(e.dataset == dataset for e in entries)
        record_access(action=REVEAL_PII, dataset=dataset, columns=shown, rows=rows, purpose=purpose)


def _masked(entries: list[QuarantineEntry], contracts_root: Path, reveal: bool, purpose: str) -> list[QuarantineEntry]:
    from sluice.governance.reveal import reveal_entries
    from sluice.lake.quarantine import mask_pii, pii_columns

    if reveal:
        if entries:
            _audit_reveal(entries, contracts_root, purpose)
            entries = reveal_entries(entries, purpose=purpose)
            warn("showing PII values; do not paste this output into tickets or chat")
        return entries
    pii = {d: pii_columns(d, contracts_root) for d in sorted({e.dataset for e in entries})}
    for dataset, columns in pii.items():
        if columns is None:
            warn(f"no loadable contract for {dataset!r}: all of its values are masked (--reveal-pii shows them)")
    return [mask_pii(e, pii[e.dataset]) for e in entries]


def _print_entries(entries: list[QuarantineEntry], *, wide: bool) -> None:
    print_fitted(
        [
            key("Ingested", wide=True),
            key("Dataset"),
            key("Run", wide=True),
            text("Source"),
            number("Row"),
            key("Reason"),
            text("Column", min_width=8),
            text("Value"),
        ],
        [
            [
                cell(e.dt),
                cell(e.dataset),
                cell(e.run_id),
                cell(e.source_file),
                cell(e.source_row),
                cell(e.reason),
                cell(e.column),
                cell(e.value),
            ]
            for e in entries
        ],
        wide=wide,
    )


def _print_summary(counts: list[ReasonCount]) -> None:
    print_fitted(
        [key("Dataset"), key("Reason"), text("Column"), number("Rows")],
        [[cell(c.dataset), cell(c.reason), cell(c.column), cell(c.rows)] for c in counts],
    )


@app.command("list")
@with_cli_exception_handling
def list_entries(
    *,
    dataset: Annotated[str | None, typer.Option("--dataset", "-d", help="Only entries of this dataset.")] = None,
    run: RunOption = None,
    reason: Annotated[str | None, typer.Option(help="Only entries with this reason code, e.g. out_of_range.")] = None,
    since: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Only entries ingested on or after this date.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many entries, newest first.")] = 50,
    summary: Annotated[
        bool,
        typer.Option(
            "--summary", help="Count entries by dataset, reason and column instead of listing them (ignores --limit)."
        ),
    ] = False,
    undecided: Annotated[
        bool,
        typer.Option(
            "--undecided", help="List only rows no replay, release or discard has decided (not with --summary)."
        ),
    ] = False,
    reveal_pii: RevealOption = False,
    purpose: PurposeOption = "ops quarantine list",
    wide: Annotated[
        bool, typer.Option("--wide", help="Also show each entry's ingestion date and run on a narrow terminal.")
    ] = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List quarantined rows, newest first, or count them with --summary."""
    from sluice.lake.quarantine import QuarantineQuery, count_by_reason
    from sluice.lake.quarantine import list_entries as read_entries

    if dataset is not None:
        ensure_dataset_name(dataset)
    check_reason(reason)
    settings = load_settings()
    table = _open(settings)
    if table is None:
        if output is OutputFormat.JSON:
            print_json([])
        exit_with_success(f"no quarantine yet at {settings.quarantine_root()}; run an ingestion first", output=output)
    query = QuarantineQuery(dataset=dataset, run_id=run, reason=reason, since=since.date() if since else None)
    if summary:
        counts = count_by_reason(table, query)
        if output is OutputFormat.JSON:
            print_json(counts)
        else:
            _print_summary(counts)
        return
    if undecided:
        from sluice.replay import undecided as open_entries

        found = open_entries(read_entries(table, query, limit=None), settings)[:limit]
    else:
        found = read_entries(table, query, limit=limit)
    entries = _masked(found, settings.contracts_root(), reveal_pii, purpose)
    if output is OutputFormat.JSON:
        print_json(entries)
        return
    if not entries:
        exit_with_success("no quarantine entries match")
    _print_entries(entries, wide=wide)
    if len(entries) == limit:
        note(f"showing the newest {limit}; raise --limit, narrow the filters, or use --summary", style="dim")


def _print_entry(entry: QuarantineEntry) -> None:
    """Every field of the entry, then its record: the source row's original values."""
    names = (
        "row_id",
        "dataset",
        "dt",
        "run_id",
        "batch_id",
        "source_file",
        "source_row",
        "reason",
        "check",
        "column",
        "value",
        "failures",
        "quarantined_at",
    )
    print_fitted(
        [key("Field"), text("Value")],
        [[Text(name, style="bold"), cell(getattr(entry, name))] for name in names],
        show_header=False,
        title=f"{entry.source_file}:{entry.source_row}",
    )
    print_fitted(
        [text("Column"), text("Original value")],
        [
            [cell(column), Text("null", style="dim") if value is None else Text(value)]
            for column, value in entry.record.items()
        ],
        title="record",
    )


@app.command("show")
@with_cli_exception_handling
def show(
    dataset: Annotated[str, typer.Argument(help="The dataset the row belongs to.")],
    source_row: Annotated[int, typer.Argument(help="The row's line (or record) number in its source file.")],
    *,
    file: Annotated[
        str | None, typer.Option("--file", "-f", help="A substring of the source file URI, e.g. its name.")
    ] = None,
    run: RunOption = None,
    reveal_pii: RevealOption = False,
    purpose: PurposeOption = "ops quarantine show",
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Show every field of the quarantine entries of one source row, with its original values."""
    from sluice.lake.quarantine import QuarantineQuery
    from sluice.lake.quarantine import list_entries as read_entries

    ensure_dataset_name(dataset)
    settings = load_settings()
    table = _open(settings)
    if table is None:
        raise SluiceError(f"no quarantine yet at {settings.quarantine_root()}", hint="run an ingestion first")
    query = QuarantineQuery(dataset=dataset, run_id=run, source_file=file, source_row=source_row)
    entries = _masked(read_entries(table, query, limit=None), settings.contracts_root(), reveal_pii, purpose)
    if not entries:
        where = "".join([f" in files matching {file!r}" if file else "", f" in run {run!r}" if run else ""])
        raise SluiceError(
            f"no quarantine entry for row {source_row} of {dataset}{where}",
            hint=f"find entries with `ops quarantine list --dataset {dataset}`",
        )
    if output is OutputFormat.JSON:
        print_json(entries)
        return
    for entry in entries:
        _print_entry(entry)
    if len({e.source_file for e in entries}) > 1:
        note("rows of several files match; pick one with --file", style="dim")


def _register_decisions() -> None:
    from ops.cli._quarantine_decide import register

    register(app)


_register_decisions()


def _register_held() -> None:
    from ops.cli._quarantine_held import register

    register(app)


_register_held()
