from __future__ import annotations

import math
from datetime import timedelta

import httpx
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ops.metrics.models import Sample, Series, to_ns
from ops.metrics.store_exporter import StoreCollector, start_store_exporter
from tests.ops.metrics.factories import T0, sample, store_at

NOW = T0 + timedelta(hours=1)


def _registry(collector: StoreCollector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


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


_label_names = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True).filter(lambda n: not n.startswith("__"))
_label_values = st.one_of(st.just(""), st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12))
_numbers = st.floats(allow_nan=True, allow_infinity=True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.dictionaries(_label_names, _label_values, max_size=4), _numbers), min_size=1, max_size=6))
def test_any_labels_and_values_give_an_exposition_prometheus_parses(tmp_path_factory, points):
    store = store_at(tmp_path_factory.mktemp("hostile"))
    store.write([Sample("sluice_rows_written", labels, T0, value) for labels, value in points])

    text = generate_latest(_registry(StoreCollector(store, clock=lambda: NOW))).decode()
    [family] = [f for f in text_string_to_metric_families(text) if f.name == "sluice_rows_written"] or [None]

    newest = {tuple(sorted(labels.items())): value for labels, value in points}  # one point per series: last wins
    expected = {_set(dict(key)) for key, value in newest.items() if not math.isnan(value)}
    served = [] if family is None else [_set(s.labels) for s in family.samples]
    assert sorted(served) == sorted(expected)  # each label set once: Prometheus refuses a duplicate series


def _set(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """A label set as Prometheus sees it: an empty value is no label."""
    return tuple(sorted((k, v) for k, v in labels.items() if v))
