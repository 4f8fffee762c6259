"""``ops lake``: a table's history, statistics, compaction, rollback, and removal of unreferenced files."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from ops.cli._tables import key, number, print_fitted, shows_wide, text
from ops.cli._utilities import (
    OutputFormat,
    OutputOption,
    cell,
    exit_with_error,
    load_settings,
    note,
    print_json,
    utc_from_ms,
    warn,
    with_cli_exception_handling,
)
from sluice.errors import LakeError
from sluice.paths import ensure_dataset_name

if TYPE_CHECKING:
    from sluice.lake.log import HistoryEntry
    from sluice.settings import Settings

app = typer.Typer(
    help="The Delta lake: commit history, rollback to an earlier version, cleanup of unreferenced files.",
    no_args_is_help=True,
)

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
    rollback: RollbackNote | None = None

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
            rollback=RollbackNote.of(meta.get("rollback")),
        )

    @property
    def operation_text(self) -> str:
        if self.rollback is not None:
            return f"{self.operation} ({self.rollback.text})"
        return f"{self.operation} ({self.stage})" if self.stage else self.operation


@dataclass(frozen=True)
class RollbackNote:
    """What a rollback commit records (:mod:`sluice.lake.rollback`): the versions it undid, why and by whom."""

    to_version: int
    undone: list[int]
    reason: str
    by: str

    @classmethod
    def of(cls, raw: object) -> RollbackNote | None:
        if not isinstance(raw, dict):
            return None
        undone = raw.get("undone")
        return cls(
            to_version=int(raw.get("to_version", -1)),
            undone=[int(v) for v in undone] if isinstance(undone, list) else [],
            reason=str(raw.get("reason", "")),
            by=str(raw.get("by", "")),
        )

    @property
    def text(self) -> str:
        undone = ", ".join(str(v) for v in self.undone)
        return f"rollback of {undone} to {self.to_version} by {self.by}: {self.reason}"


@dataclass(frozen=True)
class VacuumFile:
    """An unreferenced file of the table and what the vacuum does (or would do) with it.

    ``action`` is ``remove`` or ``keep`` in a dry run, ``removed`` or ``kept``
    otherwise; a file is kept while it is younger than the retention.
    """

    path: str
    bytes: int | None
    age_hours: float | None
    action: str


@dataclass(frozen=True)
class VacuumResult:
    dataset: str
    table: str
    dry_run: bool
    retention_hours: int
    files: list[VacuumFile]

    @property
    def removed(self) -> list[VacuumFile]:
        return [f for f in self.files if f.action in ("remove", "removed")]

    @property
    def kept(self) -> list[VacuumFile]:
        return [f for f in self.files if f.action in ("keep", "kept")]


def require_table(settings: Settings, dataset: str) -> str:
    """The URI of ``dataset``'s table.

    Raises:
        LakeError: the table does not exist; the hint tells an unknown dataset
            (with the known ones) from one that was never ingested.
    """
    from sluice.lake.table import open_table, table_uri
    from sluice.validate.contracts import available_contracts

    ensure_dataset_name(dataset)
    uri = table_uri(settings.lake_root(), dataset)
    if open_table(uri, dict(settings.lake_storage_options) or None) is not None:
        return uri
    known = available_contracts(settings.contracts_root())
    if dataset in known:
        raise LakeError(
            f"dataset {dataset!r} has no table at {uri} yet",
            hint=f"run an ingestion of {dataset} first, or check SLUICE_LAKE_URI",
        )
    close = difflib.get_close_matches(dataset, known, n=1)
    guess = f"did you mean {close[0]!r}? " if close else ""
    raise LakeError(
        f"unknown dataset {dataset!r}: no table at {uri}", hint=f"{guess}known datasets: {', '.join(known) or 'none'}"
    )


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(
        f"{k.removeprefix('rows_')} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in counts.items()
    )


@app.command("history")
@with_cli_exception_handling
def history(
    dataset: DatasetArgument,
    *,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many commits, newest first.")] = 20,
    wide: Annotated[
        bool,
        typer.Option(
            "--wide", help="Show whole run ids on a narrow terminal (8 characters otherwise, as `ops runs list`)."
        ),
    ] = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Show the commits of a dataset's table: version, time, operation, run and row counts."""
    from sluice.lake.log import history as read_history

    settings = load_settings()
    uri = require_table(settings, dataset)
    commits = [
        Commit.of(e)
        for e in read_history(uri, limit=limit, storage_options=dict(settings.lake_storage_options) or None)
    ]
    if output is OutputFormat.JSON:
        print_json(commits)
        return
    rows = []
    for c in commits:
        operation = c.operation_text
        run = c.run_id if shows_wide(wide) or c.run_id is None else c.run_id[:8]
        rows.append(
            [
                cell(c.version),
                cell(c.timestamp),
                cell(operation),
                cell(run),
                cell(_counts_text(c.counts)),
                cell(c.source_files),
            ]
        )
    print_fitted(
        [number("Version"), key("Time"), text("Operation", min_width=10), key("Run"), text("Counts"), number("Files")],
        rows,
        wide=wide,
        title=uri,
    )


def _size_text(size: int | None) -> str:
    if size is None:
        return "-"
    if size < 1024:
        return f"{size:,} B"
    value = size / 1024
    for unit in ("KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def _age_text(hours: float | None) -> str:
    if hours is None:
        return "-"
    if hours < 1:
        return f"{max(hours * 60, 0):.0f} min"
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} d"


def _vacuum_files(
    uri: str,
    retention_hours: int,
    dry_run: bool,
    storage_options: dict[str, str] | None,
) -> list[VacuumFile]:
    from sluice.lake.log import unreferenced_files
    from sluice.lake.log import vacuum as vacuum_table

    found = unreferenced_files(uri, retention_hours=retention_hours, storage_options=storage_options)
    if dry_run:
        return [VacuumFile(f.path, f.bytes, f.age_hours, "remove" if f.removable else "keep") for f in found]
    removed = set(vacuum_table(uri, retention_hours=retention_hours, dry_run=False, storage_options=storage_options))
    files = [VacuumFile(f.path, f.bytes, f.age_hours, "removed" if f.path in removed else "kept") for f in found]
    listed = {f.path for f in found}
    return files + [VacuumFile(p, None, None, "removed") for p in sorted(removed - listed)]


def _print_vacuum(result: VacuumResult) -> None:
    verb = "would remove" if result.dry_run else "removed"
    rows = []
    for f in result.files:
        fate = verb if f.action in ("remove", "removed") else "keep: younger than the retention"
        rows.append([cell(f.path), cell(_age_text(f.age_hours)), cell(_size_text(f.bytes)), cell(fate)])
    if result.files:
        print_fitted(
            [text("File"), number("Age"), number("Size"), text(f"At {result.retention_hours} h retention")],
            rows,
            title=result.table,
        )
    freed = sum(f.bytes or 0 for f in result.removed)
    note(
        f"{len(result.files)} unreferenced file(s) in {result.table}: {verb} {len(result.removed)} file(s) "
        f"({_size_text(freed)}), kept {len(result.kept)} younger than {result.retention_hours} h"
    )
    if result.dry_run and result.kept:
        note(
            "younger files may belong to a writer that is still running; once none is, "
            "--retention-hours with a lower value removes them",
            style="dim",
        )


@app.command("vacuum")
@with_cli_exception_handling
def vacuum(
    dataset: DatasetArgument,
    *,
    retention_hours: Annotated[int, typer.Option(min=0, help="Keep unreferenced files younger than this.")] = 168,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="List every unreferenced file with its age and "
            "whether the retention removes or keeps it; "
            "remove none.",
        ),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Remove files of a dataset's table that no commit references (e.g. left by killed writers)."""
    settings = load_settings()
    uri = require_table(settings, dataset)
    if retention_hours < SAFE_RETENTION_HOURS:
        warn(
            f"retention under {SAFE_RETENTION_HOURS} h: time travel to older versions will fail, and a "
            "writer still running may lose files"
        )
    if not dry_run and not yes:
        prompt = f"Remove unreferenced files older than {retention_hours} h from {uri}?"
        if not typer.confirm(prompt, default=False, err=True):
            exit_with_error("vacuum cancelled; nothing was removed", hint="--dry-run lists what would go")
    files = _vacuum_files(uri, retention_hours, dry_run, dict(settings.lake_storage_options) or None)
    result = VacuumResult(dataset, uri, dry_run, retention_hours, files)
    if output is OutputFormat.JSON:
        print_json(result)
        return
    _print_vacuum(result)


def _register_query() -> None:
    from ops.cli._lake_query import query
    from ops.cli._lake_rollback import rollback

    app.command("query")(query)
    app.command("rollback")(rollback)


def _register_maintenance() -> None:
    from ops.cli._lake_maintain import register

    register(app)


_register_query()
_register_maintenance()
