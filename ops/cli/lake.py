"""``ops lake``: a dataset table's commit history, and removal of unreferenced files."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from ops.cli._utilities import (
    OutputFormat,
    OutputOption,
    cell,
    console,
    exit_with_error,
    load_settings,
    new_table,
    note,
    print_json,
    utc_from_ms,
    warn,
    with_cli_exception_handling,
)
from sluice.errors import LakeError

if TYPE_CHECKING:
    from sluice.lake_log import HistoryEntry
    from sluice.settings import Settings

app = typer.Typer(help="The Delta lake: commit history and cleanup of unreferenced files.", no_args_is_help=True)

DatasetArgument = Annotated[str, typer.Argument(help="The dataset, as named by its contract.")]
SAFE_RETENTION_HOURS = 168


@dataclass(frozen=True)
class Commit:
    """One commit of a dataset table, with what the Sluice run recorded on it."""

    version: int
    timestamp: datetime
    operation: str
    run_id: str | None
    counts: dict[str, int]
    source_files: int | None
    stage: str | None

    @classmethod
    def of(cls, entry: HistoryEntry) -> Commit:
        meta = entry.metadata
        counts = meta.get("counts")
        sources = meta.get("sources")
        stage = meta.get("stage")
        return cls(
            version=entry.version,
            timestamp=utc_from_ms(entry.timestamp_ms),
            operation=entry.operation,
            run_id=entry.run_id,
            counts={str(k): v for k, v in counts.items()} if isinstance(counts, dict) else {},
            source_files=len(sources) if isinstance(sources, list) else None,
            stage=str(stage) if stage else None,
        )


@dataclass(frozen=True)
class VacuumResult:
    dataset: str
    table: str
    dry_run: bool
    retention_hours: int
    files: list[str]


def require_table(settings: Settings, dataset: str) -> str:
    """The URI of ``dataset``'s table.

    Raises:
        LakeError: the table does not exist; the hint tells an unknown dataset
            (with the known ones) from one that was never ingested.
    """
    from sluice.contracts import available_contracts
    from sluice.lake import open_table, table_uri

    uri = table_uri(settings.lake_root(), dataset)
    if open_table(uri, dict(settings.lake_storage_options) or None) is not None:
        return uri
    known = available_contracts(settings.contracts_root())
    if dataset in known:
        raise LakeError(f"dataset {dataset!r} has no table at {uri} yet",
                        hint=f"run an ingestion of {dataset} first, or check SLUICE_LAKE_URI")
    close = difflib.get_close_matches(dataset, known, n=1)
    guess = f"did you mean {close[0]!r}? " if close else ""
    raise LakeError(f"unknown dataset {dataset!r}: no table at {uri}",
                    hint=f"{guess}known datasets: {', '.join(known) or 'none'}")


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{k.removeprefix('rows_')} {v:,}" if isinstance(v, int) else f"{k} {v}"
                     for k, v in counts.items())


@app.command("history")
@with_cli_exception_handling
def history(
    dataset: DatasetArgument,
    *,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many commits, newest first.")] = 20,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Show the commits of a dataset's table: version, time, operation, run and row counts."""
    from sluice.lake_log import history as read_history

    settings = load_settings()
    uri = require_table(settings, dataset)
    commits = [Commit.of(e) for e in read_history(uri, limit=limit,
                                                  storage_options=dict(settings.lake_storage_options) or None)]
    if output is OutputFormat.JSON:
        print_json(commits)
        return
    table = new_table("Version", "Time", "Operation", "Run", "Counts", "Files", title=uri,
                      fold=("Operation", "Run", "Counts"))
    for c in commits:
        operation = f"{c.operation} ({c.stage})" if c.stage else c.operation
        table.add_row(cell(c.version), cell(c.timestamp), cell(operation), cell(c.run_id),
                      cell(_counts_text(c.counts)), cell(c.source_files))
    console.print(table)


@app.command("vacuum")
@with_cli_exception_handling
def vacuum(
    dataset: DatasetArgument,
    *,
    retention_hours: Annotated[int, typer.Option(min=0, help="Keep unreferenced files younger than this.")] = 168,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the files that would go; remove none.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Remove files of a dataset's table that no commit references (e.g. left by killed writers)."""
    from sluice.lake_log import vacuum as vacuum_table

    settings = load_settings()
    uri = require_table(settings, dataset)
    if retention_hours < SAFE_RETENTION_HOURS:
        warn(f"retention under {SAFE_RETENTION_HOURS} h: time travel to older versions will fail, and a "
             "writer still running may lose files")
    if not dry_run and not yes:
        prompt = f"Remove unreferenced files older than {retention_hours} h from {uri}?"
        if not typer.confirm(prompt, default=False, err=True):
            exit_with_error("vacuum cancelled; nothing was removed", hint="--dry-run lists what would go")
    files = vacuum_table(uri, retention_hours=retention_hours, dry_run=dry_run,
                         storage_options=dict(settings.lake_storage_options) or None)
    result = VacuumResult(dataset, uri, dry_run, retention_hours, sorted(files))
    if output is OutputFormat.JSON:
        print_json(result)
        return
    for path in result.files:
        console.print(cell(path))
    verb = "would remove" if dry_run else "removed"
    note(f"{verb} {len(result.files)} file(s) from {uri}")
