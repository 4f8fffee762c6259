"""The Prometheus metrics store: reads a Prometheus server through its HTTP API.

Prometheus is written by scraping, not through this store: run the exporter
of :mod:`ops.metrics.sampler` and add it to Prometheus's ``scrape_configs``.

Reads map onto the API as follows:

* :meth:`PrometheusStore.series`: ``/api/v1/series`` for the label sets, then per
  metric name one instant query ``count_over_time(sel[range])`` for the point
  counts and one ``timestamp(sel)`` for the latest sample (within Prometheus's
  five-minute lookback). Prometheus does not say when a series began, so
  ``first`` is None.
* :meth:`PrometheusStore.query_range` without a step: the raw samples, from the
  instant query ``sel[range]``; with a step: ``/api/v1/query_range`` of
  ``last_over_time(sel[step])`` per metric name, which is what the embedded store
  computes too. Functions drop the metric name, hence one query per name.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

import httpx
import numpy as np
from pydantic import BaseModel, TypeAdapter, ValidationError

from ops.metrics.errors import BackendUnavailableError, MetricsError, ReadOnlyStoreError
from ops.metrics.models import NAME_LABEL, MetricInfo, Sample, Selector, Series

ALL_TIME = timedelta(days=5 * 365)
"""How far back ``series()`` looks when no start is given: longer than any retention."""
_UNAVAILABLE_HINT = "check SLUICE_PROMETHEUS_URL and that Prometheus runs, or set SLUICE_METRICS_BACKEND=embedded"


class _Reply(BaseModel):
    status: str
    data: object = None
    errorType: str = ""  # Prometheus's field name
    error: str = ""


class _RangeSeries(BaseModel):
    metric: dict[str, str]
    values: list[tuple[float, str]]


class _InstantSample(BaseModel):
    metric: dict[str, str]
    value: tuple[float, str]


_LABEL_SETS = TypeAdapter(list[dict[str, str]])
_MATRIX = TypeAdapter(list[_RangeSeries])
_VECTOR = TypeAdapter(list[_InstantSample])


class PrometheusStore:
    """A read-only :class:`~ops.metrics.store.MetricsStore` over a Prometheus server.

    Args:
        url: the server's base URL, such as ``http://127.0.0.1:9090``.
        timeout: seconds to wait for each request.
        client: an ``httpx.Client`` to use instead of a new one (tests pass a mock transport).
    """

    def __init__(self, url: str, *, timeout: float = 10.0, client: httpx.Client | None = None) -> None:
        self.url = url.rstrip("/")
        self._client = client or httpx.Client(base_url=self.url, timeout=timeout)

    @property
    def location(self) -> str:
        return self.url

    def write(self, samples: Iterable[Sample]) -> int:
        raise self._read_only()

    def write_series(self, series: Iterable[Series]) -> int:
        raise self._read_only()

    def series(
        self, selector: Selector, *, start: datetime | None = None, end: datetime | None = None
    ) -> list[MetricInfo]:
        end = end or datetime.now(timezone.utc)
        start = start or end - ALL_TIME
        label_sets = _LABEL_SETS.validate_python(
            self._get("/api/v1/series", {"match[]": selector.promql(), "start": _seconds(start), "end": _seconds(end)})
        )
        infos = []
        for name in sorted({labels[NAME_LABEL] for labels in label_sets}):
            named = _named(selector, name)
            counts = self._instant(f"count_over_time({named}[{_duration(end - start)}])", end)
            latest = self._instant(f"timestamp({named})", end)
            for labels in sorted((_without_name(ls) for ls in label_sets if ls[NAME_LABEL] == name), key=str):
                key = tuple(sorted(labels.items()))
                last = latest.get(key)
                infos.append(
                    MetricInfo(
                        name,
                        labels,
                        int(counts.get(key, 0)),
                        None,
                        datetime.fromtimestamp(last, tz=timezone.utc) if last else None,
                    )
                )
        return infos

    def query_range(
        self, selector: Selector, start: datetime, end: datetime, step: timedelta | None = None
    ) -> list[Series]:
        if step is None:
            data = self._get(
                "/api/v1/query", {"query": f"{selector.promql()}[{_duration(end - start)}]", "time": _seconds(end)}
            )
            return sorted((_series(r, None) for r in self._matrix(data)), key=_order)
        label_sets = _LABEL_SETS.validate_python(
            self._get(
                "/api/v1/series", {"match[]": selector.promql(), "start": _seconds(start - step), "end": _seconds(end)}
            )
        )
        result: list[Series] = []
        for name in sorted({labels[NAME_LABEL] for labels in label_sets}):
            data = self._get(
                "/api/v1/query_range",
                {
                    "query": f"last_over_time({_named(selector, name)}[{_duration(step)}])",
                    "start": _seconds(start),
                    "end": _seconds(end),
                    "step": step.total_seconds(),
                },
            )
            result.extend(_series(r, name) for r in self._matrix(data))
        return sorted(result, key=_order)

    def close(self) -> None:
        self._client.close()

    def _read_only(self) -> ReadOnlyStoreError:
        return ReadOnlyStoreError(
            f"the Prometheus store at {self.url} is written by scraping, not through the metrics store",
            hint="run the exporter (ops.metrics.sampler.start_exporter) and add it to Prometheus's scrape_configs; "
            "or set SLUICE_METRICS_BACKEND=embedded to keep metrics in Parquet",
        )

    def _instant(self, query: str, at: datetime) -> dict[tuple[tuple[str, str], ...], float]:
        """An instant query's result, keyed by sorted label pairs (the metric name is dropped)."""
        data = self._get("/api/v1/query", {"query": query, "time": _seconds(at)})
        if not isinstance(data, dict) or data.get("resultType") != "vector":
            raise MetricsError(f"Prometheus answered {query!r} with no vector")
        return {
            tuple(sorted(_without_name(s.metric).items())): float(s.value[1])
            for s in _VECTOR.validate_python(data.get("result", []))
        }

    def _matrix(self, data: object) -> list[_RangeSeries]:
        if not isinstance(data, dict) or data.get("resultType") != "matrix":
            raise MetricsError("Prometheus answered a range query with no matrix")
        return _MATRIX.validate_python(data.get("result", []))

    def _get(self, path: str, params: dict[str, str | float]) -> object:
        """The ``data`` of a successful API reply.

        Raises:
            BackendUnavailableError: Prometheus cannot be reached or does not answer in its API's terms.
            MetricsError: Prometheus rejected the request (a bad query, say).
        """
        try:
            response = self._client.get(path, params=params)
            reply = _Reply.model_validate_json(response.content)
        except httpx.HTTPError as exc:
            raise BackendUnavailableError(
                f"cannot reach Prometheus at {self.url}: {exc}", hint=_UNAVAILABLE_HINT
            ) from None
        except ValidationError:
            raise BackendUnavailableError(
                f"{self.url}{path} answered HTTP {response.status_code} that is not Prometheus's API",
                hint=_UNAVAILABLE_HINT,
            ) from None
        if reply.status != "success":
            raise MetricsError(
                f"Prometheus rejected {params.get('query') or params.get('match[]')!r}: "
                f"{reply.errorType}: {reply.error}",
                hint="check the selector; Prometheus uses RE2 regular expressions",
            )
        return reply.data


def _named(selector: Selector, name: str) -> str:
    """``selector`` restricted to the metric ``name``."""
    return Selector(name, tuple(m for m in selector.matchers if m.label != NAME_LABEL)).promql()


def _without_name(labels: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in labels.items() if k != NAME_LABEL}


def _series(result: _RangeSeries, name: str | None) -> Series:
    stamps = np.array([t for t, _ in result.values], dtype="float64")
    values = np.array([v for _, v in result.values], dtype="float64")  # parses "NaN" and "+Inf" too
    ns = np.round(stamps * 1_000).astype("int64") * 1_000_000  # Prometheus keeps milliseconds
    return Series(name or result.metric.get(NAME_LABEL, ""), _without_name(result.metric), ns, values)


def _order(series: Series) -> tuple[str, str]:
    return series.metric, series.key


def _seconds(ts: datetime) -> float:
    return ts.timestamp()


def _duration(span: timedelta) -> str:
    """A PromQL duration of at least one millisecond."""
    return f"{max(1, int(span / timedelta(milliseconds=1)))}ms"
