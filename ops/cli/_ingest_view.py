"""The live display of ``ops ingest``: files listed and staged, rows read and quarantined, the commit.

It listens to the progress the ``ingest-files`` flow reports in this process
(:mod:`flows.progress`); use it as a context manager around the run.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

BAR_WIDTH = 20


@dataclass
class IngestView:
    """Running totals of one run's progress events (from any thread), rendered live."""

    console: Console
    dataset: str
    source: str
    files_total: int | None = None
    bytes_total: int = 0
    files_staged: int = 0
    files_failed: int = 0
    files_skipped: int = 0
    rows_read: int = 0
    rows_quarantined: int = 0
    lake: str = "waiting for the staged files"
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _live: Live | None = None

    def __enter__(self) -> IngestView:
        self._live = Live(self.render(), console=self.console, refresh_per_second=4, transient=False)
        self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.update(self.render())
            self._live.__exit__(*exc)
            self._live = None
            if not self.console.is_terminal:  # a file or pipe gets the last view without a line end
                self.console.line()

    def on_progress(self, event: Any) -> None:
        """A :class:`flows.progress.IngestProgress` arrived: add it up and redraw."""
        with self._lock:
            if event.stage == "listed":
                self.files_total, self.bytes_total = event.files, event.bytes
            elif event.stage == "staged":
                self.files_staged += event.files
                self.files_failed += event.files_failed
                self.files_skipped += event.files_skipped
                self.rows_read += event.rows_read
                self.rows_quarantined += event.rows_quarantined
                if self.files_total is not None and self.files_staged >= self.files_total:
                    self.lake = "committing"
            elif event.stage == "committed":
                version = "" if event.lake_version is None else f"version {event.lake_version:,}: "
                self.lake = (
                    f"{version}{event.rows_written:,} written, {event.rows_duplicate:,} duplicate"
                    if event.files
                    else "nothing new to commit"
                )
        if self._live is not None:
            self._live.update(self.render())

    def _files_text(self) -> str:
        if self.files_total is None:
            return "listing the source"
        staged = self.files_staged - self.files_failed - self.files_skipped
        parts = [
            f"{n:,} {what}"
            for n, what in (
                (staged, "staged"),
                (self.files_skipped, "already in the lake"),
                (self.files_failed, "failed"),
            )
            if n
        ]
        done = f"{self.files_staged:,} of {self.files_total:,} ({_size(self.bytes_total)})"
        return f"{done}: {', '.join(parts)}" if parts else done

    def render(self) -> Group:
        with self._lock:
            grid = Table.grid(padding=(0, 1))
            grid.add_column(style="bold", no_wrap=True)
            grid.add_column(no_wrap=True)
            grid.add_column()
            bar = ProgressBar(total=self.files_total, completed=self.files_staged, width=BAR_WIDTH)
            grid.add_row("files", bar, Text(self._files_text()))
            grid.add_row("rows", "", Text(f"{self.rows_read:,} read, {self.rows_quarantined:,} quarantined"))
            grid.add_row("lake", "", Text(self.lake))
            title = Text(f"ingesting {self.source} into {self.dataset}", style="bold")
            return Group(title, grid)


def _size(n: int) -> str:
    """``n`` bytes for people: ``512 B``, ``3.4 MB``."""
    size, unit = float(n), "B"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            break
        size /= 1024
    return f"{n:,} B" if unit == "B" else f"{size:,.1f} {unit}"
