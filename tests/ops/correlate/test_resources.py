"""Resource types from metric names."""

from __future__ import annotations

import pytest

from ops.correlate import resource_of
from ops.correlate.resources import measures_headroom


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
