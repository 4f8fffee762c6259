"""Synthetic wide frames with a known root cause: noise, quantised memory, counters, and one injected fault."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from bench.rca_synthetic import SyntheticCase, synthetic_case
from ops.correlate.models import WideFrame
from ops.metrics.models import Series, to_ns

T0 = datetime(2026, 3, 5, 10, 0, tzinfo=timezone.utc)


@dataclass
class Fault:
    """A frame with a fault in ``culprit`` from ``onset`` on, and the failure at row ``failure``."""

    frame: WideFrame
    culprit: str
    failure: int
    onset: int

    @property
    def failure_at(self) -> datetime:
        return T0 + timedelta(seconds=self.failure)

    def time_of(self, row: int) -> datetime:
        return T0 + timedelta(seconds=row)


def background(rows: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Columns that have nothing to do with any fault."""
    rng = np.random.default_rng(seed)
    return {
        "web_cpu": 30 + rng.normal(0, 3, rows),
        "db_cpu": 12 + rng.normal(0, 1, rows),
        "web_mem": 2e8 + np.round(rng.normal(0, 2, rows)) * 4096,
        "db_mem": 5e8 + np.cumsum(rng.normal(0, 1, rows)) * 4096,
        "net_rx_bytes_total": np.cumsum(rng.uniform(1e5, 2e5, rows)),
        "disk_io_percent": 5 + rng.gamma(2.0, 1.0, rows),
    }


def fault_frame(
    rows: int = 600,
    failure: int = 400,
    onset: int | None = None,
    culprit: str = "db_cpu",
    size: float = 40.0,
    seed: int = 0,
    extra: dict[str, np.ndarray] | None = None,
) -> Fault:
    """Background columns; ``culprit`` steps up by ``size`` from ``onset`` (default: the failure) on."""
    columns = background(rows, seed) | (extra or {})
    onset = failure if onset is None else onset
    columns[culprit] = columns[culprit].copy()
    columns[culprit][onset:] += size
    times = to_ns(T0) + np.arange(rows, dtype="int64") * 1_000_000_000
    return Fault(WideFrame(times, list(columns), np.vstack(list(columns.values()))), culprit, failure, onset)


def write_csv(fault: Fault, path: Path, *, iso: bool = False) -> Path:
    frame = fault.frame
    seconds = frame.times / 1e9
    times = pd.to_datetime(frame.times, utc=True).strftime("%Y-%m-%dT%H:%M:%SZ") if iso else seconds
    table = pd.DataFrame({"time": times} | {n: frame.values[j] for j, n in enumerate(frame.names)})
    table.to_csv(path, index=False)
    return path


def as_series(fault: Fault, labels: dict[str, str]) -> list[Series]:
    """The frame as store series ``sluice_host_<column>`` with ``labels``."""
    return [
        Series(f"sluice_host_{name}", dict(labels), fault.frame.times, fault.frame.values[j])
        for j, name in enumerate(fault.frame.names)
    ]


def hard_case(kind: str, seed: int) -> SyntheticCase:
    """A generated hard case (:mod:`bench.rca_synthetic`): one-minute rows, short history, an earlier incident,
    sparse latencies; the fault's ``kind`` is ``cpu``, ``mem`` or ``delay``."""
    return synthetic_case(kind, seed)
