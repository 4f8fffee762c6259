from __future__ import annotations

from datetime import timedelta

import httpx
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from ops.metrics.models import Series, to_ns
from ops.metrics.store_exporter import StoreCollector, start_store_exporter
from tests.ops.metrics.factories import T0, sample, store_at

NOW = T0 + timedelta(hours=1)


def _served(collector: StoreCollector) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (family.name, tuple(sorted(s.labels.items()))): s.value
        for family in collector.collect()
        for s in family.samples
    }


def test_each_series_is_served_at_its_newest_value(tmp_path):
    store = store_at(tmp_path)
    store.write(
        [
            sample("sluice_rows_written", 5, at=T0, dataset="orders", environment="prod"),
            sample("sluice_rows_written", 7, at=T0 + timedelta(minutes=5), dataset="orders", environment="prod"),
            sample("sluice_rows_written", 3, at=T0, dataset="customers", environment="prod"),
            sample("sluice_cdc_slot_lag_bytes", 4096, at=T0, slot="s1", environment="prod"),
        ]
    )

    served = _served(StoreCollector(store, clock=lambda: NOW))

    assert served == {
        ("sluice_rows_written", (("dataset", "orders"), ("environment", "prod"))): 7.0,
        ("sluice_rows_written", (("dataset", "customers"), ("environment", "prod"))): 3.0,
        ("sluice_cdc_slot_lag_bytes", (("environment", "prod"), ("slot", "s1"))): 4096.0,
    }


def test_series_older_than_the_window_and_other_metrics_are_left_out(tmp_path):
    store = store_at(tmp_path)
    store.write(
        [
            sample("sluice_rows_written", 5, at=T0 - timedelta(days=2), dataset="old"),
            sample("sluice_rows_written", 1, at=T0, dataset="new"),
            sample("sluice_not_pipeline", 1, at=T0, dataset="new"),
        ]
    )

    served = _served(StoreCollector(store, clock=lambda: NOW))

    assert served == {("sluice_rows_written", (("dataset", "new"),)): 1.0}


def test_a_series_ending_in_nan_serves_its_newest_number(tmp_path):
    store = store_at(tmp_path)
    stamps = to_ns(T0) + np.array([0, 1_000_000_000], dtype="int64")
    store.write_series([Series("sluice_quarantine_rate", {"dataset": "orders"}, stamps, np.array([0.25, np.nan]))])

    served = _served(StoreCollector(store, clock=lambda: NOW))

    assert served == {("sluice_quarantine_rate", (("dataset", "orders"),)): 0.25}


def test_the_exporter_serves_store_and_host_metrics_over_http(tmp_path):
    store = store_at(tmp_path)
    store.write([sample("sluice_freshness_seconds", 60, at=T0.now(T0.tzinfo), dataset="orders", flow="ingest-files")])

    with start_store_exporter(store, labels={"environment": "test"}) as exporter:
        text = httpx.get(exporter.url, timeout=10).text

    families = {f.name: f for f in text_string_to_metric_families(text)}
    [freshness] = families["sluice_freshness_seconds"].samples
    assert freshness.labels == {"dataset": "orders", "flow": "ingest-files"} and freshness.value == 60.0
    assert families["sluice_host_cpu_percent"].samples[0].labels["environment"] == "test"
