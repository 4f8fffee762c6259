"""Progress of the ingestion runs of this process, for whoever watches them (``ops ingest``'s display).

The ``ingest-files`` flow reports three moments from its own process: the
files it listed, each group of files as its staging task finishes, and the
commit. Listeners are called in the flow's thread and must be quick; one that
raises is logged and never breaks the run. A run in another process (a
deployment's worker) reports to the listeners of that process.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sluice.runs.records import FileOutcome, FileStatus, RunReport
from sluice.sources.files import SourceFile

logger = logging.getLogger(__name__)


class Stage(enum.StrEnum):
    LISTED = "listed"  # the source was listed: ``files`` and ``bytes`` found
    STAGED = "staged"  # one group of ``files`` was read, validated and staged
    COMMITTED = "committed"  # the run's rows are in the lake (or nothing was new)


@dataclass(frozen=True)
class IngestProgress:
    """One moment of a run; counts are of that moment (a group's), not running totals."""

    stage: Stage
    dataset: str
    files: int = 0
    bytes: int = 0
    rows_read: int = 0
    rows_quarantined: int = 0
    files_failed: int = 0
    files_skipped: int = 0
    rows_written: int = 0
    rows_duplicate: int = 0
    lake_version: int | None = None


Listener = Callable[[IngestProgress], None]
_listeners: list[Listener] = []
_lock = threading.Lock()


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Send the progress of every run of this process to ``listener`` while the block runs."""
    with _lock:
        _listeners.append(listener)
    try:
        yield
    finally:
        with _lock:
            _listeners.remove(listener)


def emit(event: IngestProgress) -> None:
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        try:
            listener(event)
        except Exception:  # a broken display must never break the run
            logger.exception("ingest progress listener failed on %s", event)


def listed(dataset: str, files: list[SourceFile]) -> None:
    emit(IngestProgress(Stage.LISTED, dataset, files=len(files), bytes=sum(f.size for f in files)))


def staged(dataset: str, outcomes: list[FileOutcome]) -> None:
    emit(
        IngestProgress(
            Stage.STAGED,
            dataset,
            files=len(outcomes),
            bytes=sum(o.bytes for o in outcomes),
            rows_read=sum(o.rows_read for o in outcomes),
            rows_quarantined=sum(o.rows_quarantined for o in outcomes),
            files_failed=sum(o.status is FileStatus.FAILED for o in outcomes),
            files_skipped=sum(o.status is FileStatus.SKIPPED for o in outcomes),
        )
    )


def committed(report: RunReport) -> None:
    emit(
        IngestProgress(
            Stage.COMMITTED,
            report.dataset,
            files=len(report.files_committed),
            rows_read=report.rows_read,
            rows_quarantined=report.rows_quarantined,
            files_failed=len(report.files_failed),
            files_skipped=len(report.files_skipped),
            rows_written=report.rows_written,
            rows_duplicate=report.rows_duplicate,
            lake_version=report.lake_version,
        )
    )
