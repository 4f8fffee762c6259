"""Which resource a metric measures, from its name: cpu, memory, network or disk.

The runbook match (:mod:`ops.runbooks.match`) takes the top suspect's
resource as one of its clues. A metric that measures none of the four
(latency, load, row counts) has no resource. A resource metric that counts
what is left (``node_memory_MemAvailable_bytes``, ``disk_free_bytes``)
measures headroom: its usage rises when it falls.
"""

from __future__ import annotations

import re

WORD = re.compile(r"[a-z0-9]+")
RESOURCE_WORDS: dict[str, frozenset[str]] = {
    "cpu": frozenset({"cpu", "cpus", "processor", "cores", "throttled", "throttling"}),
    "memory": frozenset({"mem", "memory", "rss", "heap", "swap", "oom", "vms", "pss", "uss"}),
    "network": frozenset(
        {"net", "network", "rx", "tx", "tcp", "udp", "socket", "sockets", "packets", "bandwidth", "nic"}
    ),
    "disk": frozenset({"disk", "disks", "iops", "fs", "filesystem", "inode", "inodes", "volume", "storage", "blkio"}),
}

HEADROOM_WORDS = frozenset({"free", "available", "avail", "memavailable", "memfree", "remaining", "headroom", "idle"})


def resource_of(metric: str) -> str | None:
    """``cpu``, ``memory``, ``network`` or ``disk`` when the metric's name says so, else None.

    Labels (``{...}``) are ignored; the name is split into words at anything
    but letters and digits.

    Example:
        >>> resource_of("sluice_process_rss_bytes{worker=\\"pid-7\\"}"), resource_of("carts_lat_90")
        ('memory', None)
    """
    words = _name_words(metric)
    for resource, vocabulary in RESOURCE_WORDS.items():
        if any(w in vocabulary for w in words):
            return resource
    return None


def measures_headroom(metric: str) -> bool:
    """Whether the metric counts what is left of its resource rather than what is used.

    Example:
        >>> measures_headroom("node_memory_MemAvailable_bytes"), measures_headroom("sluice_host_memory_used_bytes")
        (True, False)
    """
    return any(w in HEADROOM_WORDS for w in _name_words(metric))


def _name_words(metric: str) -> list[str]:
    """The metric's name (labels dropped), lower-cased and split at anything but letters and digits."""
    return WORD.findall(metric.split("{", 1)[0].lower())


SERVICE_LABELS = ("service", "pod", "container", "job", "worker", "instance", "host")


def service_of(metric: str, labels: dict[str, str] | None = None) -> str:
    """What the metric belongs to: its ``service``/``pod``/... label, else its name up to the first ``_``.

    Example:
        >>> service_of("carts-db_mem"), service_of("cpu_seconds", {"pod": "orders-7f9"})
        ('carts-db', 'orders-7f9')
    """
    for key in SERVICE_LABELS:
        if labels and labels.get(key):
            return labels[key]
    return metric.split("{", 1)[0].split("_", 1)[0]


LATENCY_WORDS = frozenset({"lat", "latency", "latencies", "duration", "rt", "response", "responsetime"})


def measures_latency(metric: str) -> bool:
    """Whether the metric is a latency (a response or request duration): a zero in it is a minute without
    requests, not an instant answer.

    Example:
        >>> measures_latency("carts_lat_90"), measures_latency("carts_cpu")
        (True, False)
    """
    return any(w in LATENCY_WORDS for w in _name_words(metric))
