"""The live view of ``ops chaos run``: steps and verdicts of a drill as they happen (rich ``Live``)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

STATUS_STYLE = {
    "running": "cyan",
    "succeeded": "green",
    "failed": "bold red",
    "held": "green",
    "broken": "bold red",
    "not run": "dim",
    "passed": "bold green",
    "aborted": "bold yellow",
}


@dataclass
class _Check:
    status: str
    detail: str
    checks: int = 1
    broken: int = 0


@dataclass
class DrillView:
    """Collects drill events (from any thread) and renders them; use as a context manager."""

    console: Console
    title: str = "chaos drill"
    steps: list[list[str]] = field(default_factory=list)
    checks: dict[str, _Check] = field(default_factory=dict)
    finished: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _live: Live | None = None

    def __enter__(self) -> DrillView:
        self._live = Live(self.render(), console=self.console, refresh_per_second=4, transient=False)
        self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.update(self.render())
            self._live.__exit__(*exc)

    def on_event(self, event: Any) -> None:
        """A :class:`chaos.drill.DrillEvent` arrived: remember it and redraw."""
        with self._lock:
            if event.kind == "step":
                self._step(event)
            elif event.kind == "hypothesis":
                self._check(event)
            elif event.kind == "finished":
                self.finished.append(
                    {"experiment": event.name, "status": event.status, "summary": event.detail, **event.payload}
                )
            elif event.kind == "message":
                self.title = event.detail or self.title
        if self._live is not None:
            self._live.update(self.render())

    def _step(self, event: Any) -> None:
        for row in reversed(self.steps):
            if row[1] == event.name and row[2] == "running" and event.status != "running":
                row[2], row[3] = event.status, event.detail
                return
        self.steps.append([event.phase.value, event.name, event.status, event.detail])

    def _check(self, event: Any) -> None:
        check = self.checks.get(event.name)
        if check is None:
            self.checks[event.name] = _Check(event.status, event.detail, broken=int(event.status == "broken"))
            return
        check.checks += 1
        check.broken += event.status == "broken"
        check.status = "broken" if check.broken else event.status
        check.detail = event.detail if event.status == "broken" or not check.broken else check.detail

    def render(self) -> Group:
        with self._lock:
            steps = Table(
                "Phase",
                "Step",
                "Status",
                "Detail",
                title=Text(self.title, style="bold"),
                title_justify="left",
                expand=True,
            )
            for phase, name, status, detail in self.steps[-25:]:
                steps.add_row(phase, name, Text(status, style=STATUS_STYLE.get(status, "")), Text(detail[:160]))
            verdicts = Table(
                "Hypothesis", "Verdict", "Checks", "Detail", title="Verdicts", title_justify="left", expand=True
            )
            verdicts.columns[2].no_wrap, verdicts.columns[2].justify = True, "right"  # a count is never cut
            for name, check in self.checks.items():
                verdicts.add_row(
                    name,
                    Text(check.status, style=STATUS_STYLE.get(check.status, "")),
                    str(check.checks),
                    Text(check.detail[:200]),
                )
            parts: list[Any] = [steps, verdicts]
            for done in self.finished:
                parts.append(Text(done["summary"], style=STATUS_STYLE.get(done["status"], "bold red")))
            return Group(*parts)
