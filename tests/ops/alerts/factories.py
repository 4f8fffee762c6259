"""Builders for alert tests: rules from keyword overrides, series at fixed five-minute steps."""

from __future__ import annotations

from typing import Any

import numpy as np

from ops.alerts.rules import Rule
from ops.metrics.models import Series

T0_S = 1_772_409_600  # 2026-03-02T00:00:00Z


def rule(**overrides: Any) -> Rule:
    spec: dict[str, Any] = {
        "id": "test-rule", "summary": "test", "selector": "m", "direction": "above",
        "threshold": {"static": 10.0}, "trigger": {"window": "15m", "fraction": 0.5},
        "recovery": {"window": "15m", "fraction": 0.0}, "severity": "SEV3", "runbook": "row-count-anomaly",
    }
    spec.update(overrides)
    return Rule.model_validate(spec)


def series(values: list[float] | np.ndarray, *, step: int = 300, start: int = T0_S, metric: str = "m",
           **labels: str) -> Series:
    values = np.asarray(values, dtype=float)
    stamps = (start + np.arange(len(values)) * step) * 1_000_000_000
    return Series(metric, labels or {"dataset": "orders"}, stamps, values)
