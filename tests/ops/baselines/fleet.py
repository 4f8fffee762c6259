"""Builders for baseline-fit tests: store series with known seasonality, anomalies, gaps and counters."""

from __future__ import annotations

import numpy as np

from ops.metrics.models import Series

FIVE_MIN = 300
DAY_ROWS = 288
START = np.datetime64("2026-03-02T00:00:00", "s")  # a Monday


def stamps(rows: int, step: int = FIVE_MIN, start: np.datetime64 = START) -> np.ndarray:
    return (start + np.arange(rows) * np.timedelta64(step, "s")).astype("datetime64[ns]")


def hours(rows: int, step: int = FIVE_MIN) -> np.ndarray:
    return (np.arange(rows) * step / 3600) % 24


def daily_series(
    days: int = 14, *, noise: float = 3.0, seed: int = 0, name: str = "daily", offset_days: int = 0
) -> Series:
    """Five-minute points: 100 plus a daily wave of amplitude 40 peaking at 14:00, plus noise."""
    rows = days * DAY_ROWS
    start = START + np.timedelta64(offset_days, "D")
    h = hours(rows)
    values = 100 + 40 * np.sin(2 * np.pi * (h - 8) / 24) + np.random.default_rng(seed).normal(0, noise, rows)
    return Series("sluice_rows_read", {"dataset": name}, stamps(rows, start=start), values)


def weekday_series(days: int = 14, *, seed: int = 0, offset_days: int = 0) -> Series:
    """Five-minute points: 100 at night and on weekends, 160 from 08:00 to 18:00 on weekdays."""
    rows = days * DAY_ROWS
    day = offset_days + np.arange(rows) // DAY_ROWS
    h = hours(rows)
    busy = (day % 7 < 5) & (h >= 8) & (h < 18)
    values = 100 + 60 * busy + np.random.default_rng(seed).normal(0, 2.0, rows)
    start = START + np.timedelta64(offset_days, "D")
    return Series("sluice_throughput_rows_per_second", {"dataset": "weekday"}, stamps(rows, start=start), values)


def noise_series(days: int = 7, *, seed: int = 0) -> Series:
    rows = days * DAY_ROWS
    values = 50 + np.random.default_rng(seed).normal(0, 5, rows)
    return Series("sluice_run_duration_seconds", {"dataset": "noise"}, stamps(rows), values)


def counter_series(days: int = 7, *, rate: float = 20.0, seed: int = 0) -> Series:
    """A monotone counter growing by about ``rate`` per second, with one reset."""
    rows = days * DAY_ROWS
    steps = np.random.default_rng(seed).poisson(rate * FIVE_MIN, rows).astype(float)
    values = np.cumsum(steps)
    values[rows // 2 :] -= values[rows // 2 - 1]  # the process restarted
    return Series("sluice_host_network_sent_bytes_total", {"host": "w1"}, stamps(rows), values)


def with_values(series: Series, values: np.ndarray) -> Series:
    return Series(series.metric, dict(series.labels), series.timestamps.copy(), values)


def spiked(series: Series, rows: np.ndarray, by: float) -> Series:
    values = series.values.copy()
    values[rows] += by
    return with_values(series, values)
