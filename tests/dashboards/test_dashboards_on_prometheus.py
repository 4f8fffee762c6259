"""Every panel and variable query of the dashboards returns data from a real Prometheus scraping the exporter."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from ops.metrics.store_exporter import start_store_exporter
from tests.dashboards.factories import ENV, write_realistic_metrics
from tests.dashboards.promql import for_prometheus, load, queries
from tests.ops.metrics.conftest import scraping

pytestmark = pytest.mark.integration
DASHBOARDS = sorted((Path(__file__).parents[2] / "dashboards").glob("*.json"))
ALL_VALUES = re.compile(r"\$\{?(environment|dataset|topic|flow)\}?")
"""The dashboards' own variables, set to All (Grafana's allValue, ``.*``)."""


@pytest.fixture(scope="module")
def prometheus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("dashboards-prometheus")
    store = write_realistic_metrics(folder, datetime.now(timezone.utc))
    with (
        start_store_exporter(store, labels={"environment": ENV}, processes={"pytest": os.getpid()}) as exporter,
        scraping(folder, exporter.port) as url,
    ):
        yield url


def _series(url: str, expr: str) -> int:
    reply = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert reply["status"] == "success", (expr, reply)
    return len(reply["data"]["result"])


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_query_of_a_dashboard_returns_data(path, prometheus_url):
    empty = [
        f"{q.where}: {q.expr}"
        for q in queries(load(path))
        if _series(prometheus_url, ALL_VALUES.sub(".*", for_prometheus(q.expr))) == 0
    ]

    assert empty == []


def test_a_query_of_a_metric_that_was_not_written_returns_nothing(prometheus_url):
    assert _series(prometheus_url, 'max by (dataset) (sluice_rows_written{environment="elsewhere"})') == 0
    assert _series(prometheus_url, f'max by (dataset) (sluice_rows_written{{environment="{ENV}"}})') == 2
