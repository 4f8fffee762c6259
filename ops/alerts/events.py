"""Alert events and where they go.

An :class:`AlertEvent` is a state transition of one alert, ``firing`` or
``resolved``. Its ``dedup_key`` is stable for a rule and a series (the same
key for every firing and resolution of that alert), so a consumer such as
the incident store can append to the incident it already opened rather than
open another.

Sinks implement one method, ``emit``. :class:`ConsoleSink` logs to the
terminal and :class:`JsonLinesSink` appends to a file (``ops alerts check``
keeps the history under ``<SLUICE_HOME>/alerts/events.jsonl``).
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from ops.metrics.models import labels_key

logger = logging.getLogger("ops.alerts")


class AlertStatus(enum.StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


def dedup_prefix(rule_id: str) -> str:
    """What every dedup key of ``rule_id`` starts with: ``<rule id>:``."""
    return f"{rule_id}:"


def dedup_key(rule_id: str, metric: str, labels: dict[str, str]) -> str:
    """``<rule id>:<12 hex digits>`` from the rule and the series: stable across evaluations and hosts."""
    digest = hashlib.sha256(f"{metric}{labels_key(labels)}".encode()).hexdigest()[:12]
    return f"{dedup_prefix(rule_id)}{digest}"


@dataclass(frozen=True)
class AlertEvent:
    dedup_key: str
    status: AlertStatus
    rule_id: str
    summary: str
    severity: str
    runbook: str
    metric: str
    labels: dict[str, str]
    value: float | None
    expected: float | None
    lower: float | None
    upper: float | None
    started_at: datetime
    at: datetime

    @property
    def labels_text(self) -> str:
        """``k=v,k=v`` with the labels sorted, as logs and incident signatures show them."""
        return ",".join(f"{k}={v}" for k, v in sorted(self.labels.items()))

    def to_json(self) -> str:
        data = asdict(self)
        data.update(status=self.status.value, started_at=self.started_at.isoformat(), at=self.at.isoformat())
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> AlertEvent:
        data = json.loads(text)
        data.update(
            status=AlertStatus(data["status"]),
            started_at=datetime.fromisoformat(data["started_at"]),
            at=datetime.fromisoformat(data["at"]),
        )
        return cls(**data)


@runtime_checkable
class AlertSink(Protocol):
    """Where alert transitions go."""

    def emit(self, event: AlertEvent) -> None:
        """Deliver one transition; a sink must not raise for a delivery it can retry later."""


class ConsoleSink:
    """Logs each transition on the ``ops.alerts`` logger."""

    def emit(self, event: AlertEvent) -> None:
        logger.warning(
            "alert %s %s [%s] %s{%s} value=%s runbook=%s",
            event.status.value.upper(),
            event.rule_id,
            event.severity,
            event.metric,
            event.labels_text,
            event.value,
            event.runbook,
        )


class JsonLinesSink:
    """Appends each transition as one JSON line to ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def emit(self, event: AlertEvent) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(event.to_json() + "\n")

    def read(self) -> list[AlertEvent]:
        if not self.path.is_file():
            return []
        return [AlertEvent.from_json(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line]
