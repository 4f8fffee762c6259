"""The drill in progress: its identity, phase, steps, ingestion runs and the stack it runs on.

One drill runs at a time in a process. The runner (or, under the stock
``chaos run``, the ``chaos.control`` control) begins it; Sluice's probes and
actions find it with :func:`current`. The stack (S3 behind the fault proxy,
the drill's own lake, a Dask cluster) starts on first use, so experiments
that never touch it start nothing.

Listeners (the live view of ``ops chaos run``) receive a :class:`DrillEvent`
for every step, hypothesis check and verdict.
"""

from __future__ import annotations

import enum
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ops.errors import ChaosError

if TYPE_CHECKING:
    from chaos.experiment import Experiment
    from chaos.guard import Clearance
    from chaos.ingestion import RunOutcome
    from chaos.stack import DrillStack
    from chaos.verdicts import Judgement

logger = logging.getLogger(__name__)


class Phase(enum.StrEnum):
    SETUP = "setup"
    BEFORE = "before"
    METHOD = "method"
    AFTER = "after"
    ROLLBACK = "rollback"
    RECOVERY = "recovery"
    DONE = "done"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Step:
    """One activity of the drill as it ran: for the live view and the incident timeline."""

    phase: Phase
    name: str
    type: str
    started_at: datetime
    status: str = "running"
    ended_at: datetime | None = None
    detail: str = ""


@dataclass(frozen=True)
class DrillEvent:
    """Something a listener may show: ``step``, ``hypothesis``, ``verdict``, ``message`` or ``finished``."""

    kind: str
    phase: Phase
    name: str
    status: str
    detail: str = ""
    payload: dict[str, Any] = field(default_factory=dict)


Listener = Callable[[DrillEvent], None]


@dataclass
class Drill:
    """State of the drill in progress."""

    experiment: Experiment
    environment: str
    clearance: Clearance | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    started_at: datetime = field(default_factory=utcnow)
    phase: Phase = Phase.SETUP
    steps: list[Step] = field(default_factory=list)
    runs: list[RunOutcome] = field(default_factory=list)
    fault_started_at: datetime | None = None
    source_changes: list[str] = field(default_factory=list)
    loops: list[Any] = field(default_factory=list)  # chaos.report.LoopView per incident, once the drill is judged
    """What each source-side fault changed at the source, in order: the cause its incidents name."""
    flow_run_id: str | None = None
    errors: list[str] = field(default_factory=list)
    abort_reason: str | None = None
    judgement: Judgement | None = None
    incidents: list[str] = field(default_factory=list)
    owned_by_control: bool = False  # begun by the control under the stock `chaos run`, so it ends it too
    listeners: list[Listener] = field(default_factory=list)
    _stack: DrillStack | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def tag(self) -> str:
        """The Prefect tag on every flow run of this drill (besides ``chaos-drill``)."""
        return f"drill-{self.id}"

    @property
    def stack(self) -> DrillStack:
        """The drill's stack, started on first use."""
        with self._lock:
            if self._stack is None:
                from chaos.stack import DrillStack

                targets = frozenset(t.value for t in self.experiment.extension.targets)
                self._stack = DrillStack.start(self.id, targets)
            return self._stack

    @property
    def has_stack(self) -> bool:
        return self._stack is not None

    def method_runs(self) -> list[RunOutcome]:
        """Ingestion runs of the method (not the recovery's)."""
        return [r for r in self.runs if not r.label.startswith("recovery")]

    def mark_fault(self) -> None:
        """Remember when the first fault went in: alerting delays are measured from here."""
        if self.fault_started_at is None:
            self.fault_started_at = utcnow()

    def emit(self, kind: str, name: str, status: str, detail: str = "", **payload: Any) -> None:
        event = DrillEvent(kind, self.phase, name, status, detail, payload)
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception:  # a broken view must never break the drill
                logger.exception("drill listener failed on %s", event)

    def close(self) -> None:
        """Stop the stack (fault proxies, S3, tmpfs, an own Dask cluster) if it started."""
        with self._lock:
            stack, self._stack = self._stack, None
        if stack is not None:
            stack.close()


_current: Drill | None = None
_current_lock = threading.Lock()


def begin(drill: Drill) -> Drill:
    """Make ``drill`` the drill in progress; refuses while another one runs."""
    global _current
    with _current_lock:
        if _current is not None and _current is not drill:
            raise ChaosError(
                f"drill {_current.id} ({_current.experiment.name}) is still running",
                hint="drills run one at a time in a process",
            )
        _current = drill
    return drill


def current() -> Drill:
    """The drill in progress, for Sluice's probes and actions."""
    if _current is None:
        raise ChaosError(
            "no drill is running",
            hint="Sluice's probes and actions run inside `ops chaos run`, `chaos run` or the chaos-drill flow",
        )
    return _current


def current_or_none() -> Drill | None:
    return _current


def end(drill: Drill) -> None:
    """Close the drill's stack and forget it."""
    global _current
    try:
        drill.close()
    finally:
        with _current_lock:
            if _current is drill:
                _current = None
