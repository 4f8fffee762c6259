"""Monotone counters: recognised from the rows seen so far, and scored as rates.

A counter (bytes sent, requests served) only grows, except when its process
restarts and it resets. Its level says nothing; its rate does, and a reset is
not an anomaly. A series is treated as a counter from the row at which, over
all rows seen so far (at least ``min_rows`` steps), at most ``max_drop_share``
of the steps went down and at least ``min_rise_share`` went up. From that row
on, the value scored is the rate ``(x[t] - x[t-1]) / (s[t] - s[t-1])`` per
second; a step that goes down (a reset) or spans no time is treated as missing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CounterConfig:
    """When a series counts as a monotone counter."""

    enabled: bool = True
    min_rows: int = 50
    max_drop_share: float = 0.01
    min_rise_share: float = 0.5


def counter_rows(values: np.ndarray, config: CounterConfig = CounterConfig()) -> np.ndarray:
    """Boolean per row: is the series a counter judging by the steps up to this row?"""
    if not config.enabled or len(values) < 2:
        return np.zeros(len(values), dtype=bool)
    step = np.diff(values)
    ok = np.isfinite(step)
    steps = np.concatenate(([0], np.cumsum(ok)))
    drops = np.concatenate(([0], np.cumsum(ok & (step < 0))))
    rises = np.concatenate(([0], np.cumsum(ok & (step > 0))))
    seen = np.maximum(steps, 1)
    return (
        (steps >= config.min_rows) & (drops <= config.max_drop_share * seen) & (rises >= config.min_rise_share * seen)
    )


def as_rates(seconds: np.ndarray, values: np.ndarray, is_counter: np.ndarray) -> np.ndarray:
    """Values where ``is_counter`` is False, per-second increments where it is True."""
    if not is_counter.any():
        return values
    dv = np.diff(values, prepend=np.nan)
    dt = np.diff(seconds, prepend=np.nan)
    rate = np.full(len(values), np.nan)
    np.divide(dv, dt, out=rate, where=(dt > 0) & (dv >= 0))
    return np.where(is_counter, rate, values)
