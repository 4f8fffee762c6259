"""``ops audit``: the access audit of governed reads, PII reveals, decryptions and policy changes."""

from __future__ import annotations

import csv
import enum
import io
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

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
    from sluice.access.audit import AccessRecord

app = typer.Typer(
    help="The access audit: who read which data, when and why; reveals, decryptions and policy changes.",
    no_args_is_help=True,
)

DatasetOption = Annotated[str | None, typer.Option("--dataset", help="Only this dataset.")]
PrincipalOption = Annotated[str | None, typer.Option("--principal", help="Only this subject (the token's sub).")]
SinceOption = Annotated[str | None, typer.Option("--since", help="Only this recently (1h, 7d) or since this ISO time.")]
ActionOption = Annotated[
    str | None,
    typer.Option(
        "--action",
        help="Only read, denied, reveal_pii, decrypt, policy_change, quarantine_release or quarantine_discard.",
    ),
]


class ExportFormat(enum.StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


def _since(value: str | None) -> datetime | None:
    from ops.metrics.errors import DurationError
    from ops.metrics.timerange import parse_duration, parse_time

    if value is None:
        return None
    try:
        if value.strip()[:1].isdigit() and not value.strip()[-1:].isdigit() and "-" not in value:
            return datetime.now(timezone.utc) - parse_duration(value)
        return parse_time(value)
    except DurationError as exc:
        raise typer.BadParameter(f"{exc.args[0]}: give a duration (7d) or an ISO time", param_hint="--since") from None


def _records(dataset: str | None, principal: str | None, since: str | None, action: str | None) -> list[AccessRecord]:
    from sluice.access.audit import AccessAction, read_audit

    try:
        chosen = AccessAction(action) if action else None
    except ValueError:
        names = ", ".join(a.value for a in AccessAction)
        raise typer.BadParameter(f"{action!r} is not one of {names}", param_hint="--action") from None
    return read_audit(load_settings(), dataset=dataset, subject=principal, since=_since(since), action=chosen)


@app.command("list")
@with_cli_exception_handling
def list_(
    *,
    dataset: DatasetOption = None,
    principal: PrincipalOption = None,
    since: SinceOption = None,
    action: ActionOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List audit records, oldest first."""
    records = _records(dataset, principal, since, action)
    if output is OutputFormat.JSON:
        print_json([r.as_json() for r in records])
        return
    rows = [
        [cell(r.at), cell(r.action.value), cell(r.subject), cell(r.dataset), cell(r.rows), cell(r.reason)]
        for r in records
    ]
    print_fitted(
        [key("Time"), key("Action"), text("Who", min_width=8), key("Dataset"), number("Rows"), text("Why")],
        rows,
        title="Access audit",
    )
    note(f"{len(records)} record(s)")


@app.command("export")
@with_cli_exception_handling
def export(
    *,
    format: Annotated[ExportFormat, typer.Option("--format", case_sensitive=False, help="jsonl or csv.")] = (
        ExportFormat.JSONL
    ),
    out: Annotated[Path | None, typer.Option("--out", help="Write here instead of standard output.")] = None,
    dataset: DatasetOption = None,
    principal: PrincipalOption = None,
    since: SinceOption = None,
    action: ActionOption = None,
) -> None:
    """Export audit records as JSON Lines or CSV (every field; columns joined by ; in CSV)."""
    records = _records(dataset, principal, since, action)
    buffer = io.StringIO()
    if format is ExportFormat.JSONL:
        for record in records:
            buffer.write(json.dumps(record.as_json(), ensure_ascii=False) + "\n")
    else:
        fields = list(records[0].as_json()) if records else []
        writer = csv.DictWriter(buffer, fieldnames=fields)
        if records:
            writer.writeheader()
        for record in records:
            row = record.as_json()
            writer.writerow(row | {"columns": ";".join(record.columns)})
    if out is None:
        typer.echo(buffer.getvalue(), nl=False)
    else:
        out.write_text(buffer.getvalue(), encoding="utf-8")
        note(f"wrote {len(records)} record(s) to {out}")
