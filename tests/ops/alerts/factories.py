"""Builders for alert tests: rules from keyword overrides, series at fixed five-minute steps, alert events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np

from ops.alerts.events import AlertEvent, AlertStatus, dedup_key
from ops.alerts.rules import Rule
from ops.metrics.models import Series

T0_S = 1_772_409_600  # 2026-03-02T00:00:00Z


def rule(**overrides: Any) -> Rule:
    spec: dict[str, Any] = {
        "id": "test-rule",
        "summary": "test",
        "selector": "m",
        "direction": "above",
        "threshold": {"static": 10.0},
        "trigger": {"window": "15m", "fraction": 0.5},
        "recovery": {"window": "15m", "fraction": 0.0},
        "severity": "SEV3",
        "runbook": "row-count-anomaly",
    }
    spec.update(overrides)
    return Rule.model_validate(spec)


def series(
    values: list[float] | np.ndarray, *, step: int = 300, start: int = T0_S, metric: str = "m", **labels: str
) -> Series:
    values = np.asarray(values, dtype=float)
    stamps = (start + np.arange(len(values)) * step) * 1_000_000_000
    return Series(metric, labels or {"dataset": "orders"}, stamps, values)


def alert_event(
    at: datetime,
    *,
    status: AlertStatus = AlertStatus.FIRING,
    rule_id: str = "quarantine-rate-high",
    runbook: str = "quarantine-rate-spike",
    metric: str = "sluice_quarantine_rate",
    value: float = 0.2,
    started_at: datetime | None = None,
    **labels: str,
) -> AlertEvent:
    """A transition of ``rule_id`` on ``metric`` (labels default to the orders dataset in staging)."""
    labels = labels or {"dataset": "orders", "environment": "staging"}
    return AlertEvent(
        dedup_key(rule_id, metric, labels),
        status,
        rule_id,
        f"{rule_id} summary",
        "SEV2",
        runbook,
        metric,
        labels,
        value,
        None,
        None,
        0.05,
        started_at or at,
        at,
    )
