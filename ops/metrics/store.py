"""The metrics store interface, and the factory that picks a backend from configuration.

``SLUICE_METRICS_BACKEND`` selects ``embedded`` (Parquet under
``<SLUICE_HOME>/metrics``, the default) or ``prometheus`` (read from
``SLUICE_PROMETHEUS_URL``, default ``http://127.0.0.1:9090``); the settings
are ``get_settings().metrics``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol, runtime_checkable

from ops.metrics.models import MetricInfo, Sample, Selector, Series
from sluice.settings import MetricsBackend, MetricsSettings, get_settings


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

    def series(
        self, selector: Selector, *, start: datetime | None = None, end: datetime | None = None
    ) -> list[MetricInfo]:
        """The series ``selector`` matches, with their point counts and time ranges."""

    def query_range(
        self, selector: Selector, start: datetime, end: datetime, step: timedelta | None = None
    ) -> list[Series]:
        """The points of every matching series in ``[start, end]``.

        Without ``step`` every stored point is returned. With ``step`` each series has at
        most one point per instant ``start + k * step``: the latest sample in the step that
        ends there (PromQL's ``last_over_time(selector[step])``); empty steps are left out.
        """


def open_store(settings: MetricsSettings | None = None, *, home: Path | None = None) -> MetricsStore:
    """The store the settings name.

    Args:
        settings: the metrics settings; ``get_settings().metrics`` when omitted.
        home: Sluice's home folder (``SLUICE_HOME``); the embedded store lives in ``home/metrics``.

    Raises:
        ConfigError: a ``SLUICE_*`` variable is invalid.
    """
    settings = settings or get_settings().metrics
    if settings.metrics_backend is MetricsBackend.PROMETHEUS:
        from ops.metrics.prometheus import PrometheusStore

        return PrometheusStore(settings.prometheus_url, timeout=settings.prometheus_timeout)
    from ops.metrics.embedded import EmbeddedStore

    root = (home or get_settings().home) / "metrics"
    return EmbeddedStore(root, compact_files=settings.metrics_compact_files)
