from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import httpx
import numpy as np
import pytest

from ops.metrics.errors import BackendUnavailableError, MetricsError, ReadOnlyStoreError
from ops.metrics.models import Selector
from ops.metrics.prometheus import PrometheusStore
from ops.metrics.store import open_store
from sluice.settings import MetricsBackend, MetricsSettings
from tests.ops.factories import closed_port_url
from tests.ops.metrics.factories import sample


def _now() -> datetime:
    return datetime.now(timezone.utc)


def test_series_lists_the_scraped_exporter_metrics(prometheus):
    store = PrometheusStore(prometheus.url)

    infos = store.series(Selector.parse('{__name__=~"sluice_.*",job="sluice"}'), start=_now() - timedelta(minutes=5))

    names = {i.metric for i in infos}
    assert {
        "sluice_host_cpu_percent",
        "sluice_host_memory_used_bytes",
        "sluice_host_network_sent_bytes_total",
        "sluice_process_rss_bytes",
    } <= names
    memory = next(i for i in infos if i.metric == "sluice_host_memory_used_bytes")
    assert memory.labels["environment"] == "test" and memory.labels["job"] == "sluice"
    assert memory.points is not None and memory.points >= 3
    assert memory.last is not None and _now() - memory.last < timedelta(minutes=1)
    rss = next(i for i in infos if i.metric == "sluice_process_rss_bytes")
    assert rss.labels["worker"] == "pytest"


def test_query_range_returns_raw_samples_and_steps(prometheus):
    store = PrometheusStore(prometheus.url)
    end = _now()
    selector = Selector.parse('sluice_host_memory_used_bytes{environment="test"}')

    [raw] = store.query_range(selector, end - timedelta(minutes=1), end)
    first = datetime.fromtimestamp(int(raw.timestamps[0]) / 1e9, tz=timezone.utc)
    step = timedelta(seconds=1)
    [stepped] = store.query_range(selector, first, end, step)
    # the first step looks back one step, to a sample just before ``first``; a scrape begun before ``end``
    # may land after ``raw``
    [since] = store.query_range(selector, first - step, end)

    assert raw.metric == "sluice_host_memory_used_bytes" and raw.labels["environment"] == "test"
    assert len(raw) >= 3 and (raw.values > 0).all() and (np.diff(raw.timestamps) > 0).all()
    assert stepped.metric == raw.metric and stepped.labels == raw.labels
    assert len(stepped) >= 2 and (np.diff(stepped.timestamps) % 1_000_000_000 == 0).all()
    assert set(stepped.values.tolist()) <= set(since.values.tolist())  # the last sample of each step, unchanged


def test_query_range_across_several_metrics(prometheus):
    found = PrometheusStore(prometheus.url).query_range(
        Selector.parse('{__name__=~"sluice_host_(cpu|memory)_percent"}'),
        _now() - timedelta(seconds=30),
        _now(),
        timedelta(seconds=5),
    )

    assert [s.metric for s in found] == ["sluice_host_cpu_percent", "sluice_host_memory_percent"]
    assert all(len(s) > 0 and ((s.values >= 0) & (s.values <= 100)).all() for s in found)


def test_a_query_prometheus_rejects_is_an_error_with_its_reason(prometheus):
    store = PrometheusStore(prometheus.url)

    with pytest.raises(MetricsError, match="Prometheus rejected") as raised:
        store.query_range(
            Selector.parse('sluice_host_cpu_percent{host=~"(?=x)"}'), _now() - timedelta(minutes=1), _now()
        )  # lookahead: Python accepts it, RE2 does not

    assert "RE2" in raised.value.hint


def test_the_cli_reads_prometheus_when_configured(prometheus, monkeypatch, tmp_path):
    from tests.ops.factories import invoke, sluice_home

    sluice_home(monkeypatch, tmp_path, metrics_backend="prometheus", prometheus_url=prometheus.url)

    listed = invoke("metrics", "list", "sluice_host_cpu_percent", "--since", "5m", "-o", "json")
    queried = invoke("metrics", "query", "sluice_host_cpu_percent", "--since", "30s", "--step", "5s", "-o", "json")

    assert listed.exit_code == 0, listed.output
    assert [i["metric"] for i in json.loads(listed.stdout)] == ["sluice_host_cpu_percent"]
    [series] = json.loads(queried.stdout)
    assert series["labels"]["job"] == "sluice" and len(series["points"]) >= 1


def test_writing_to_prometheus_says_it_is_scraped():
    store = PrometheusStore("http://127.0.0.1:9")

    with pytest.raises(ReadOnlyStoreError, match="written by scraping") as raised:
        store.write([sample()])

    assert "scrape_configs" in raised.value.hint


def test_an_unreachable_prometheus_is_reported_with_a_hint():
    store = PrometheusStore(closed_port_url().removesuffix("/api"), timeout=2)

    with pytest.raises(BackendUnavailableError, match="cannot reach Prometheus") as raised:
        store.series(Selector.parse("up"))

    assert "SLUICE_PROMETHEUS_URL" in raised.value.hint


def test_a_server_that_is_not_prometheus_is_reported():
    transport = httpx.MockTransport(lambda request: httpx.Response(200, text="<html>hello</html>"))
    store = PrometheusStore("http://proxy", client=httpx.Client(base_url="http://proxy", transport=transport))

    with pytest.raises(BackendUnavailableError, match="not Prometheus's API"):
        store.query_range(Selector.parse("up"), _now() - timedelta(minutes=1), _now())


def test_open_store_picks_the_backend_from_settings(tmp_path):
    assert isinstance(open_store(MetricsSettings(metrics_backend=MetricsBackend.PROMETHEUS)), PrometheusStore)
    assert open_store(MetricsSettings(), home=tmp_path).location == str(tmp_path / "metrics")
