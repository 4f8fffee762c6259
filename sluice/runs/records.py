"""What every run read, wrote, quarantined and dropped, and the rule they obey.

``rows_read == rows_written + rows_updated + rows_deleted + rows_unchanged +
rows_quarantined + rows_duplicate + rows_held`` for every run; :func:`ensure_conserved`
raises when it does not hold. A run whose commit was rolled back keeps these
counts; ``rows_rolled_back`` (at most written + updated + deleted) says how
many of those changes the rollback undid. ``rows_held`` are rows a reference keeps
back for their parent (:mod:`sluice.lake.held`); a later run of source ``held:DATASET``
reads them from the hold and writes or quarantines them. Append tables only write (``rows_written``,
new keys) or drop duplicates; keyed tables (upsert, scd2) also update,
delete and leave rows unchanged (:mod:`sluice.lake.resolve` defines each).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum

from sluice.errors import ConservationError
from sluice.runs.completeness import TotalsCheck


class FileStatus(StrEnum):
    COMMITTED = "committed"
    SKIPPED = "skipped"  # its batch id was committed by an earlier run
    FAILED = "failed"


@dataclass
class FileOutcome:
    """What happened to one source file in one run."""

    uri: str
    order: int
    status: FileStatus
    sha256: str = ""
    batch_id: str = ""
    bytes: int = 0
    encoding: str = ""
    rows_read: int = 0
    rows_valid: int = 0
    rows_quarantined: int = 0
    rows_held: int = 0  # valid rows kept back for a parent that has not landed (sluice.lake.held)
    rows_orphaned: int = 0  # rows whose reference the parent lacked, under any policy (sluice.validate.references)
    blank_lines: int = 0  # lines with no values at all: not records, counted here, not read
    missing_columns: list[str] = field(default_factory=list)
    extra_columns: list[str] = field(default_factory=list)
    warnings: dict[str, int] = field(default_factory=dict)
    error: str = ""
    seconds: float = 0.0
    partitions: list[str] = field(default_factory=list)  # partition dates of its valid rows
    watermark: str = ""  # latest partition-column value among valid rows (ISO 8601)
    # What staging it took (sluice.runs.usage): the task thread's CPU seconds, the peak resident memory of the
    # process it ran in, and the Dask worker with its memory limit ("" and 0 outside a Dask worker).
    cpu_seconds: float = 0.0
    peak_memory_bytes: int = 0
    worker: str = ""
    worker_memory_bytes: int = 0
    # The file's rows in each child dataset of an exploded array (sluice.ingest_children), by dataset.
    children: dict[str, FileOutcome] = field(default_factory=dict)
    # The source's control totals beside what was read (sluice.runs.completeness); None: the contract compares none.
    totals: TotalsCheck | None = None


@dataclass
class RunReport:
    """The operational record of one ingestion run."""

    run_id: str
    dataset: str
    source: str
    env: str
    started_at: datetime
    finished_at: datetime | None = None
    status: str = "running"
    rows_read: int = 0
    rows_written: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0
    rows_updated: int = 0
    rows_deleted: int = 0
    rows_unchanged: int = 0
    rows_held: int = 0
    rows_orphaned: int = 0
    duplicates_in_run: int = 0
    duplicates_in_lake: int = 0
    bytes_read: int = 0
    lake_version: int | None = None
    partitions: int = 0
    watermark: datetime | None = None
    stage_seconds: dict[str, float] = field(default_factory=dict)
    warnings: dict[str, int] = field(default_factory=dict)
    files: list[FileOutcome] = field(default_factory=list)
    error: str = ""
    flow: str = ""  # the flow that made the run (ingest-files, ingest-table, capture-changes); "" if not recorded
    # Of the rows written, updated and deleted, how many a rollback of the run's commit undid
    # (sluice.lake.rollback), and the version of that rollback commit.
    rows_rolled_back: int = 0
    rollback_version: int | None = None
    # What the run cost, measured (sluice.runs.usage): the source's kind (files, s3, postgresql...) and region,
    # how bytes_read was measured, the sizes of the files its Delta commit added, the CPU seconds of its tasks,
    # the highest peak memory a staging task saw, and the workers (with the largest memory limit) that staged.
    source_kind: str = ""
    source_region: str = ""
    read_measure: str = ""
    bytes_written: int = 0
    cpu_seconds: float = 0.0
    peak_memory_bytes: int = 0
    workers: int = 0
    worker_memory_bytes: int = 0
    # Each batch's control totals, the source's and what was read (sluice.runs.completeness).
    control_totals: list[TotalsCheck] = field(default_factory=list)

    @property
    def wall_seconds(self) -> float:
        """Seconds from start to finish; 0 while running."""
        return (self.finished_at - self.started_at).total_seconds() if self.finished_at else 0.0

    @property
    def files_committed(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status is FileStatus.COMMITTED]

    @property
    def files_skipped(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status is FileStatus.SKIPPED]

    @property
    def files_failed(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status is FileStatus.FAILED]

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["files_committed"] = len(self.files_committed)
        data["files_skipped"] = len(self.files_skipped)
        data["files_failed"] = len(self.files_failed)
        return data


def applied(report: RunReport) -> int:
    """Valid rows the commit accounted for: written, updated, deleted, unchanged or duplicate."""
    return (
        report.rows_written + report.rows_updated + report.rows_deleted + report.rows_unchanged + report.rows_duplicate
    )


def rows_changed(report: RunReport) -> int:
    """Rows whose change the run's commit made to the table: written, updated or deleted (what a rollback undoes)."""
    return report.rows_written + report.rows_updated + report.rows_deleted


def ensure_conserved(report: RunReport) -> None:
    """Raise unless every row read is accounted for exactly once, and a rollback undid no more than was changed."""
    if not 0 <= report.rows_rolled_back <= rows_changed(report):
        raise ConservationError(
            f"run {report.run_id} of {report.dataset}: {report.rows_rolled_back:,} rows rolled back, but the run "
            f"changed {rows_changed(report):,}",
            hint="do not trust this run's record; check `ops lake history` for its rollback",
        )
    accounted = applied(report) + report.rows_quarantined + report.rows_held
    if report.rows_read != accounted:
        changed = (
            f"updated {report.rows_updated:,} + deleted {report.rows_deleted:,} + "
            f"unchanged {report.rows_unchanged:,} + "
            if report.rows_updated or report.rows_deleted or report.rows_unchanged
            else ""
        )
        raise ConservationError(
            f"run {report.run_id} of {report.dataset} does not add up: read {report.rows_read:,} but "
            f"written {report.rows_written:,} + {changed}quarantined {report.rows_quarantined:,} + "
            f"duplicate {report.rows_duplicate:,} + held {report.rows_held:,} = {accounted:,}",
            hint="do not trust this run's output; open an incident and check `ops lake history`",
        )
    staged_valid = sum(f.rows_valid for f in report.files_committed)
    if staged_valid != applied(report):
        raise ConservationError(
            f"run {report.run_id}: {staged_valid:,} valid rows were staged but "
            f"{applied(report):,} were written, applied or deduplicated",
        )
