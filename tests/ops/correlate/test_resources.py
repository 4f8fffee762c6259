"""Resource types from metric names."""

from __future__ import annotations

import pytest

from ops.correlate import resource_of
from ops.correlate.resources import measures_headroom, measures_latency, service_of


@pytest.mark.parametrize(
    "metric,resource",
    [
        ("sluice_host_cpu_percent", "cpu"),
        ('sluice_process_cpu_percent{worker="pid-1"}', "cpu"),
        ("sluice_process_rss_bytes", "memory"),
        ("sluice_host_memory_used_bytes", "memory"),
        ("carts-db_mem", "memory"),
        ("sluice_host_network_sent_bytes_total", "network"),
        ("sluice_host_disk_written_bytes_total", "disk"),
        ("carts_lat_90", None),
        ("sluice_rows_read", None),
    ],
)
def test_resource_of_reads_the_metric_name(metric, resource):
    assert resource_of(metric) == resource


@pytest.mark.parametrize(
    "metric,headroom",
    [
        ("node_memory_MemAvailable_bytes", True),
        ('node_filesystem_free_bytes{mountpoint="/"}', True),
        ("sluice_host_memory_used_bytes", False),
        ('sluice_process_rss_bytes{worker="free"}', False),  # labels are not the name
    ],
)
def test_headroom_metrics_are_told_from_usage_by_name(metric, headroom):
    assert measures_headroom(metric) is headroom


@pytest.mark.parametrize(
    "metric,labels,service",
    [
        ("carts-db_mem", {}, "carts-db"),
        ("carts_lat_90", {}, "carts"),
        ("container_cpu_seconds", {"pod": "orders-7f9"}, "orders-7f9"),
        ('sluice_process_rss_bytes{worker="pid-1"}', {"worker": "pid-1"}, "pid-1"),
    ],
)
def test_service_of_reads_a_label_first_then_the_name(metric, labels, service):
    assert service_of(metric, labels) == service


@pytest.mark.parametrize(
    "metric,latency",
    [("carts_lat_90", True), ("http_request_duration_seconds", True), ("orders_latency", True), ("carts_cpu", False)],
)
def test_measures_latency_reads_the_metric_name(metric, latency):
    assert measures_latency(metric) is latency
