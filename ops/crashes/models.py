"""What crash detection knows of a flow run and its process, and what it decides."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from ops.errors import OpsError

LABEL_PREFIX = "sluice.process."


class FlowProcessDied(OpsError):
    """The process of a flow run died without reporting a final state (segfault, OOM kill, SIGKILL)."""

    hint = "rerun the flow; if it dies again, find what killed it (runbook flow-run-crashed)"


@dataclass(frozen=True)
class ProcessMark:
    """Where a flow run's process runs: its host (and boot), pid and start time, and its heartbeat interval.

    ``heartbeat_seconds`` is 0 when the process sends no heartbeats.
    """

    host: str
    boot_id: str
    pid: int
    started: float
    heartbeat_seconds: int

    def labels(self) -> dict[str, str | int | float]:
        return {
            f"{LABEL_PREFIX}host": self.host,
            f"{LABEL_PREFIX}boot-id": self.boot_id,
            f"{LABEL_PREFIX}pid": self.pid,
            f"{LABEL_PREFIX}started": self.started,
            f"{LABEL_PREFIX}heartbeat-seconds": self.heartbeat_seconds,
        }

    @classmethod
    def from_labels(cls, labels: dict[str, Any] | None) -> ProcessMark | None:
        """The mark recorded in a run's labels; None when it has none or it does not parse."""
        found = {k.removeprefix(LABEL_PREFIX): v for k, v in (labels or {}).items() if k.startswith(LABEL_PREFIX)}
        try:
            mark = cls(
                host=str(found["host"]),
                boot_id=str(found["boot-id"]),
                pid=int(found["pid"]),
                started=float(found["started"]),
                heartbeat_seconds=int(found["heartbeat-seconds"]),
            )
        except (KeyError, TypeError, ValueError, OverflowError):
            return None
        return mark if mark.pid > 0 and mark.heartbeat_seconds >= 0 else None


class ProcessState(StrEnum):
    ALIVE = "alive"
    GONE = "gone"
    ELSEWHERE = "elsewhere"  # another host: only heartbeats tell


@dataclass(frozen=True)
class RunView:
    """A Running flow run as the detection sees it."""

    id: str
    name: str
    flow_name: str
    running_since: datetime
    last_heartbeat: datetime | None
    mark: ProcessMark | None


@dataclass(frozen=True)
class Verdict:
    dead: bool
    reason: str


@dataclass(frozen=True)
class CrashedRun:
    """A run the sweep marked Crashed, or found Crashed, and what became of its incident."""

    flow_run_id: str
    flow_run_name: str
    reason: str
    incident_ref: str | None = None
    incident_created: bool = False
