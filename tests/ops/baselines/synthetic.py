"""Synthetic series with known seasonality, for the detector tests."""

from __future__ import annotations

import numpy as np

FIVE_MIN = 300
HOUR = 3600
DAY_ROWS = 288  # five-minute rows per day


def timestamps(rows: int, step: int = FIVE_MIN) -> np.ndarray:
    return np.datetime64("2024-03-04T00:00:00", "s") + np.arange(rows) * np.timedelta64(step, "s")


def daily(days: int = 14, noise: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Five-minute rows: a base of 50, a daily peak of +30 in the afternoon, Gaussian noise."""
    rows = days * DAY_ROWS
    ts = timestamps(rows)
    phase = (np.arange(rows) % DAY_ROWS) / DAY_ROWS
    peak = 30 * np.exp(-(((phase - 0.6) / 0.08) ** 2))
    return ts, 50 + peak + np.random.default_rng(seed).normal(0, noise, rows)


def weekly(weeks: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Hourly rows: a daytime plateau on weekdays only (weekends stay low), Gaussian noise."""
    rows = weeks * 7 * 24
    ts = timestamps(rows, HOUR)
    hour = np.arange(rows) % 24
    weekday = (np.arange(rows) // 24) % 7 < 5
    busy = weekday & (hour >= 8) & (hour < 18)
    return ts, 100 + 60 * busy + np.random.default_rng(seed).normal(0, 2.0, rows)


def daily_peak_rows(rows: int) -> np.ndarray:
    """Rows within the daily peak of :func:`daily` (its top half)."""
    phase = (np.arange(rows) % DAY_ROWS) / DAY_ROWS
    return np.flatnonzero(np.exp(-(((phase - 0.6) / 0.08) ** 2)) > 0.5)
