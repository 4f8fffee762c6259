from __future__ import annotations

import os
import re
import time

import httpx
import pytest

from ops.metrics.errors import MetricsError
from ops.metrics.models import Selector
from ops.metrics.sampler import NET_REQUEST, SPECS, Probe, Sampler, start_exporter
from tests.ops.metrics.factories import store_at


def test_sampler_writes_host_and_process_samples_in_the_background(tmp_path):
    store = store_at(tmp_path)

    with Sampler(
        store, interval=0.2, flush_interval=0.5, labels={"environment": "test"}, processes={"self": os.getpid()}
    ) as sampler:
        time.sleep(1.5)

    infos = {i.metric: i for i in store.series(Selector())}
    assert sampler.written > 0 and sampler.failed_writes == 0
    assert {
        "sluice_host_cpu_percent",
        "sluice_host_memory_used_bytes",
        "sluice_host_memory_percent",
        "sluice_host_network_sent_bytes_total",
        "sluice_process_rss_bytes",
    } <= set(infos)
    assert infos["sluice_host_cpu_percent"].points >= 5
    assert infos["sluice_host_cpu_percent"].labels == {"host": os.uname().nodename, "environment": "test"}
    assert infos["sluice_process_rss_bytes"].labels["worker"] == "self"
    [cpu] = store.query_range(
        Selector.parse("sluice_host_cpu_percent"),
        infos["sluice_host_cpu_percent"].first,
        infos["sluice_host_cpu_percent"].last,
    )
    [memory] = store.query_range(
        Selector.parse("sluice_host_memory_used_bytes"),
        infos["sluice_host_memory_used_bytes"].first,
        infos["sluice_host_memory_used_bytes"].last,
    )
    assert ((cpu.values >= 0) & (cpu.values <= 100)).all()
    assert (memory.values > 0).all()


def test_a_failing_store_does_not_stop_the_sampler(tmp_path):
    class BrokenStore:
        location = "nowhere"

        def write(self, samples):
            raise OSError("disk full")

    with Sampler(BrokenStore(), interval=0.05, flush_interval=0.1) as sampler:  # type: ignore[arg-type]
        time.sleep(0.4)

    assert sampler.failed_writes >= 2 and sampler.written == 0


def test_a_process_that_exits_is_no_longer_read():
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    probe = Probe(processes={"short-lived": child.pid})
    child.wait()

    assert not [s for s in probe.read() if s.labels.get("worker") == "short-lived"]
    assert not [s for s in probe.read() if s.labels.get("worker") == "short-lived"]


def test_exporter_serves_every_gauge_and_counter():
    with start_exporter(0, labels={"environment": "test"}, processes={"self": os.getpid()}) as exporter:
        text = httpx.get(exporter.url, timeout=5).text

    for spec in SPECS.values():
        if "disk" not in spec.name and spec is not NET_REQUEST:  # containers may hide disk counters; no endpoint
            assert f"\n{spec.name}{{" in text, spec.name
    assert "# TYPE sluice_host_cpu_percent gauge" in text
    assert re.search(r"# TYPE sluice_host_network_sent_bytes(_total)? counter", text)
    assert 'worker="self"' in text and 'environment="test"' in text


def test_exporter_on_a_busy_port_fails_clearly():
    with start_exporter(0) as exporter, pytest.raises(MetricsError, match="cannot serve metrics") as raised:
        start_exporter(exporter.port)

    assert "another port" in raised.value.hint
