"""Metrics of Sluice's pipelines and hosts: one store interface, two backends.

What is stored is declared in :mod:`ops.metrics.models`; how it is stored
lives in a backend behind :class:`ops.metrics.store.MetricsStore`:

* ``embedded`` (default): append-only Parquet part files under ``<SLUICE_HOME>/metrics``.
* ``prometheus``: a Prometheus server, read through its HTTP API and written by scraping
  the exporter of :mod:`ops.metrics.sampler`.

Only the models, errors and the store interface are imported here; the
backends (pyarrow, httpx) load when :func:`open_store` picks one.
"""

from ops.metrics.errors import (
    BackendUnavailableError,
    DurationError,
    MetricsError,
    ReadOnlyStoreError,
    SelectorError,
)
from ops.metrics.models import Matcher, MatchOp, MetricInfo, Sample, Selector, Series
from ops.metrics.store import MetricsStore, open_store

__all__ = [
    "BackendUnavailableError",
    "DurationError",
    "MatchOp",
    "Matcher",
    "MetricInfo",
    "MetricsError",
    "MetricsStore",
    "ReadOnlyStoreError",
    "Sample",
    "Selector",
    "SelectorError",
    "Series",
    "open_store",
]
