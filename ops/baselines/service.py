"""Baselines against the metrics store: fit, show and check, as plain functions with typed results."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from ops.baselines.evaluate import BandCheck, check_bands
from ops.baselines.fit import FitConfig, Rejection, fit_many
from ops.baselines.model import Baseline
from ops.baselines.registry import BaselineRegistry
from ops.errors import BaselineInputError
from ops.metrics.models import Selector, Series, to_ns
from ops.metrics.store import MetricsStore


def open_registry(home: Path) -> BaselineRegistry:
    """The baselines of the Sluice home ``home``."""
    return BaselineRegistry(home / "baselines")


@dataclass(frozen=True)
class BaselineView:
    """A baseline as shown to people and scripts, with its band at one instant."""

    metric: str
    labels: dict[str, str]
    version: int
    model: str
    method: str
    seasons: list[str]
    counter: bool
    level: float
    scale: float
    at: datetime
    expected: float
    lower: float
    upper: float
    points: int
    coverage: float
    train_start: datetime
    train_end: datetime
    fitted_at: datetime
    rebaselined_at: datetime | None
    backtest: dict[str, float]


def view(baseline: Baseline, at: datetime, z: float) -> BaselineView:
    lower, expected, upper = (float(a[0]) for a in baseline.band(np.array([to_ns(at) / 1e9]), z))
    return BaselineView(
        metric=baseline.metric,
        labels=baseline.labels,
        version=baseline.version,
        model=baseline.model,
        method=baseline.method,
        seasons=list(baseline.seasons),
        counter=baseline.counter,
        level=baseline.level,
        scale=baseline.scale,
        at=at,
        expected=expected,
        lower=lower,
        upper=upper,
        points=baseline.points,
        coverage=baseline.coverage,
        train_start=baseline.train_start,
        train_end=baseline.train_end,
        fitted_at=baseline.fitted_at,
        rebaselined_at=baseline.rebaselined_at,
        backtest=baseline.backtest,
    )


@dataclass(frozen=True)
class FitReport:
    version: int
    fitted: list[BaselineView]
    rejected: list[Rejection]
    seconds: float


def fit_from_store(
    store: MetricsStore,
    registry: BaselineRegistry,
    selector: Selector,
    start: datetime,
    end: datetime,
    config: FitConfig,
    z: float,
) -> FitReport:
    """Fit every series ``selector`` matches over ``[start, end]`` and save them as a new version.

    Raises:
        BaselineInputError: no series matched in the range.
    """
    import time

    fleet = store.query_range(selector, start, end)
    if not fleet:
        raise BaselineInputError(
            f"no points of {selector} between {start:%Y-%m-%dT%H:%M:%SZ} and "
            f"{end:%Y-%m-%dT%H:%M:%SZ} in {store.location}",
            hint="check the selector with `ops metrics list`, or widen --since",
        )
    began = time.perf_counter()
    result = fit_many(fleet, config, end)
    version = registry.save(result.baselines)
    saved = registry.current(selector, as_of=version) if version else []
    fresh = {b.key for b in result.baselines}
    views = [view(b, end, z) for b in saved if b.key in fresh]
    return FitReport(version, views, result.rejected, time.perf_counter() - began)


def pair_with_baselines(baselines: list[Baseline], fleet: list[Series]) -> tuple[list[Baseline], list[Series]]:
    """The series that have a baseline, each with its baseline, in the same order."""
    by_key = {b.key: b for b in baselines}
    found = [(by_key[k], s) for s in fleet if (k := f"{s.metric}{s.key}") in by_key]
    return [b for b, _ in found], [s for _, s in found]


def check_from_store(
    store: MetricsStore, registry: BaselineRegistry, selector: Selector, start: datetime, end: datetime, z: float
) -> list[BandCheck]:
    """Judge the points of ``[start, end]`` against the current baselines; save any re-baselined ones."""
    baselines, fleet = pair_with_baselines(registry.current(selector), store.query_range(selector, start, end))
    checks = check_bands(baselines, fleet, z)
    registry.save([c.shifted for c in checks if c.shifted is not None])
    return checks
