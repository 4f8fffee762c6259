"""The host and process metrics the sampler reads (:mod:`ops.metrics.sampler`): name, kind and help of each."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Kind(enum.StrEnum):
    GAUGE = "gauge"
    COUNTER = "counter"


@dataclass(frozen=True)
class MetricSpec:
    name: str
    kind: Kind
    help: str


HOST_CPU = MetricSpec("sluice_host_cpu_percent", Kind.GAUGE, "Host CPU busy percent since the previous reading.")
HOST_CPU_RUNNABLE = MetricSpec(
    "sluice_host_cpu_runnable_per_core",
    Kind.GAUGE,
    "Tasks running or waiting for a CPU, per core: CPU saturation, which still rises when the CPU is all busy.",
)
HOST_MEMORY_USED = MetricSpec("sluice_host_memory_used_bytes", Kind.GAUGE, "Host memory in use, bytes.")
HOST_MEMORY_PERCENT = MetricSpec("sluice_host_memory_percent", Kind.GAUGE, "Host memory in use, percent.")
NET_SENT = MetricSpec("sluice_host_network_sent_bytes_total", Kind.COUNTER, "Bytes sent on all interfaces.")
NET_RECEIVED = MetricSpec("sluice_host_network_received_bytes_total", Kind.COUNTER, "Bytes received on all interfaces.")
DISK_READ = MetricSpec("sluice_host_disk_read_bytes_total", Kind.COUNTER, "Bytes read from all disks.")
DISK_WRITTEN = MetricSpec("sluice_host_disk_written_bytes_total", Kind.COUNTER, "Bytes written to all disks.")
DISK_USED = MetricSpec(
    "sluice_host_disk_used_percent", Kind.GAUGE, "Used share of a watched filesystem (the lake's), percent."
)
PROCESS_RSS = MetricSpec("sluice_process_rss_bytes", Kind.GAUGE, "Resident memory of a watched process, bytes.")
PROCESS_CPU = MetricSpec(
    "sluice_process_cpu_percent",
    Kind.GAUGE,
    "CPU percent of a watched process since the previous reading (100 = one core).",
)
WORKERS_LOST = MetricSpec(
    "sluice_host_workers_lost",
    Kind.GAUGE,
    "Watched processes (Dask workers) that went away (killed, crashed, exited) in the last minute.",
)
NET_REQUEST = MetricSpec(
    "sluice_host_network_request_seconds",
    Kind.GAUGE,
    "Seconds one HTTP request to a watched endpoint took (the request timeout when it failed).",
)
LOST_WINDOW = 60.0
"""Seconds a watched process that went away counts in ``sluice_host_workers_lost``."""
SPECS = {
    s.name: s
    for s in (
        HOST_CPU,
        HOST_CPU_RUNNABLE,
        HOST_MEMORY_USED,
        HOST_MEMORY_PERCENT,
        NET_SENT,
        NET_RECEIVED,
        DISK_READ,
        DISK_WRITTEN,
        DISK_USED,
        PROCESS_RSS,
        PROCESS_CPU,
        WORKERS_LOST,
        NET_REQUEST,
    )
}
