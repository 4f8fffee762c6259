"""The metrics store interface, and the factory that picks a backend from configuration.

``SLUICE_METRICS_BACKEND`` selects ``embedded`` (Parquet under
``<SLUICE_HOME>/metrics``, the default) or ``prometheus`` (read from
``SLUICE_PROMETHEUS_URL``, default ``http://127.0.0.1:9090``).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol, runtime_checkable

from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from ops.metrics.models import MetricInfo, Sample, Selector, Series
from sluice.errors import ConfigError


@runtime_checkable
class MetricsStore(Protocol):
    """Where metrics are kept. Times are aware datetimes; ranges are closed ``[start, end]``."""

    @property
    def location(self) -> str:
        """Where the store lives (a folder or a URL), for messages."""

    def write(self, samples: Iterable[Sample]) -> int:
        """Append ``samples``; returns how many were written."""

    def write_series(self, series: Iterable[Series]) -> int:
        """Append whole series at once (no per-point work); returns how many points were written."""

    def series(self, selector: Selector, *, start: datetime | None = None,
               end: datetime | None = None) -> list[MetricInfo]:
        """The series ``selector`` matches, with their point counts and time ranges."""

    def query_range(self, selector: Selector, start: datetime, end: datetime,
                    step: timedelta | None = None) -> list[Series]:
        """The points of every matching series in ``[start, end]``.

        Without ``step`` every stored point is returned. With ``step`` each series has at
        most one point per instant ``start + k * step``: the latest sample in the step that
        ends there (PromQL's ``last_over_time(selector[step])``); empty steps are left out.
        """


class Backend(enum.StrEnum):
    EMBEDDED = "embedded"
    PROMETHEUS = "prometheus"


class MetricsSettings(BaseSettings):
    """The metrics settings, from ``SLUICE_METRICS_BACKEND``, ``SLUICE_PROMETHEUS_URL`` and friends."""

    model_config = SettingsConfigDict(env_prefix="SLUICE_", extra="ignore")

    metrics_backend: Backend = Backend.EMBEDDED
    prometheus_url: str = "http://127.0.0.1:9090"
    prometheus_timeout: float = 10.0
    metrics_compact_files: int = 64
    metrics_sampler: bool = True
    metrics_sample_seconds: float = 2.0

    @classmethod
    def load(cls) -> MetricsSettings:
        """The settings from the environment; an invalid value becomes a ``ConfigError``."""
        try:
            return cls()
        except ValidationError as exc:
            problems = "; ".join(f"SLUICE_{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"invalid metrics settings: {problems}",
                              hint="SLUICE_METRICS_BACKEND is embedded or prometheus") from None


def open_store(settings: MetricsSettings | None = None, *, home: Path | None = None) -> MetricsStore:
    """The store the settings name.

    Args:
        settings: the metrics settings; read from the environment when omitted.
        home: Sluice's home folder (``SLUICE_HOME``); the embedded store lives in ``home/metrics``.

    Raises:
        ConfigError: the settings are invalid.
    """
    settings = settings or MetricsSettings.load()
    if settings.metrics_backend is Backend.PROMETHEUS:
        from ops.metrics.prometheus import PrometheusStore

        return PrometheusStore(settings.prometheus_url, timeout=settings.prometheus_timeout)
    from ops.metrics.embedded import EmbeddedStore
    from sluice.settings import get_settings

    root = (home or get_settings().home) / "metrics"
    return EmbeddedStore(root, compact_files=settings.metrics_compact_files)
