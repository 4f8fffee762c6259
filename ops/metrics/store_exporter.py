"""The metrics store served to Prometheus: the newest sample of every pipeline series, read at each scrape.

Run, stream, change-capture and Prefect metrics are written to the metrics
store (:mod:`ops.metrics.collect`, :mod:`ops.metrics.streams`,
:mod:`ops.metrics.cdc_slots`, :mod:`ops.metrics.prefect_runs`). A
:class:`StoreCollector` serves them next to the host metrics of
:func:`ops.metrics.sampler.start_exporter`: at each scrape, per series of
:data:`EXPORTED_METRICS`, the newest value within ``window`` as a gauge with
the series' labels. Prometheus stamps it at the scrape, so a panel over these
gauges shows the latest run's figures (the newest freshness, lag, rows
written...) until a newer sample replaces it or it leaves the window.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from ops.metrics import apis, cdc_slots, collect, prefect_runs, streams
from ops.metrics.models import NAME_LABEL, Matcher, MatchOp, Selector, Series
from ops.metrics.sampler import Exporter, start_exporter
from ops.metrics.store import MetricsStore

EXPORTED_METRICS: tuple[str, ...] = (
    *collect.PIPELINE_METRICS,
    collect.SOURCE_LAG,
    *collect.REFERENCE_METRICS,
    *streams.STREAM_METRICS,
    *cdc_slots.CDC_METRICS,
    *apis.API_METRICS,
    prefect_runs.FLOW_DURATION,
    prefect_runs.FLOW_FAILED,
    prefect_runs.TASK_DURATION,
    prefect_runs.ERROR_RATE,
)
"""Every metric the store holds for pipelines; the host metrics come from the sampler's probe."""
DEFAULT_WINDOW = timedelta(days=1)


def _now() -> datetime:
    return datetime.now(timezone.utc)


class StoreCollector(Collector):
    """A ``prometheus_client`` collector serving the newest sample of each store series as a gauge.

    Args:
        store: the metrics store to read (the embedded store; Prometheus itself would serve its own data).
        window: how far back a series' newest sample may lie to be served.
        metrics: the metric names to serve.
        clock: the current time (tests pass a fixed one).
    """

    def __init__(
        self,
        store: MetricsStore,
        *,
        window: timedelta = DEFAULT_WINDOW,
        metrics: Sequence[str] = EXPORTED_METRICS,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.store = store
        self.window = window
        self.metrics = tuple(metrics)
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        now = self.clock()
        names = Matcher(NAME_LABEL, MatchOp.REGEX, "|".join(self.metrics))
        by_name: dict[str, list[Series]] = {}
        for series in self.store.query_range(Selector(None, (names,)), now - self.window, now):
            by_name.setdefault(series.metric, []).append(series)
        for name in sorted(by_name):
            yield _family(name, by_name[name])


def _family(name: str, found: list[Series]) -> GaugeMetricFamily:
    """One gauge per label set as Prometheus sees it (an empty value is no label), at its newest value."""
    newest: dict[tuple[tuple[str, str], ...], tuple[int, float]] = {}
    for series in found:
        point = _newest(series)
        key = tuple(sorted((k, v) for k, v in series.labels.items() if v))
        if point is not None and (key not in newest or point[0] >= newest[key][0]):
            newest[key] = point
    label_names = sorted({k for key in newest for k, _ in key})
    family = GaugeMetricFamily(name, f"{name}: the newest sample in the Sluice metrics store.", labels=label_names)
    for key, (_, value) in newest.items():
        labels = dict(key)
        family.add_metric([labels.get(k, "") for k in label_names], value)
    return family


def _newest(series: Series) -> tuple[int, float] | None:
    """The time (ns) and value of the newest point of ``series`` that is a number, or None."""
    for ts, value in zip(reversed(series.timestamps.tolist()), reversed(series.values.tolist()), strict=True):
        if not math.isnan(value):
            return int(ts), float(value)
    return None


def start_store_exporter(
    store: MetricsStore,
    port: int = 0,
    *,
    addr: str = "127.0.0.1",
    labels: Mapping[str, str] | None = None,
    processes: Mapping[str, int] | None = None,
    window: timedelta = DEFAULT_WINDOW,
) -> Exporter:
    """Serve the host metrics and the store's pipeline metrics on ``http://addr:port/metrics``.

    ``labels`` and ``processes`` are the host metrics' (see :func:`~ops.metrics.sampler.start_exporter`);
    the store's series keep the labels they were written with.

    Raises:
        MetricsError: the port cannot be bound.
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(store, window=window))
    return start_exporter(port, registry, addr=addr, labels=labels, processes=processes)
