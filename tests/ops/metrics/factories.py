"""Builders for metrics tests: samples and series at fixed times, and a store in a tmp folder."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from ops.metrics.embedded import EmbeddedStore
from ops.metrics.models import Sample, Series, to_ns

T0 = datetime(2026, 3, 5, 10, 0, tzinfo=timezone.utc)
SECOND_NS = 1_000_000_000


def store_at(tmp_path: Path, **options: int) -> EmbeddedStore:
    return EmbeddedStore(tmp_path / "metrics", **options)


def sample(metric: str = "sluice_rows_read", value: float = 1.0, *, at: datetime = T0, **labels: str) -> Sample:
    return Sample(metric, labels or {"dataset": "orders"}, at, value)


def every_second(
    metric: str, labels: dict[str, str], values: list[float] | np.ndarray, *, start: datetime = T0
) -> Series:
    """A series with one point per second from ``start``."""
    values = np.asarray(values, dtype="float64")
    return Series(metric, labels, to_ns(start) + np.arange(len(values), dtype="int64") * SECOND_NS, values)


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)
