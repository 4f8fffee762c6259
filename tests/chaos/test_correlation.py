"""A drill incident's correlation names the injected resource: a resource series, or a worker process's series."""

from __future__ import annotations

from chaos.correlation import WORKER, Correlated


def test_a_top_suspect_names_its_resource_and_a_worker_only_when_it_is_a_worker_series():
    host_cpu = Correlated("INC-1", "sluice_host_cpu_percent", "cpu")
    worker_rss = Correlated("INC-2", "sluice_process_rss_bytes", "memory", worker="pid-7")

    assert host_cpu.names("cpu") and not host_cpu.names(WORKER)
    assert worker_rss.names(WORKER) and worker_rss.names("memory") and not worker_rss.names("cpu")
    assert "worker pid-7" in worker_rss.summary()


def test_a_drill_that_killed_a_worker_wants_that_worker_first():
    killed = frozenset({"tcp://127.0.0.1:4001"})

    assert Correlated("INC-4", "sluice_process_rss_bytes", "memory", worker="tcp://127.0.0.1:4001").names(
        WORKER, killed
    )
    assert not Correlated("INC-5", "sluice_process_rss_bytes", "memory", worker="tcp://127.0.0.1:4002").names(
        WORKER, killed
    )


def test_an_incident_without_a_correlation_names_nothing():
    missing = Correlated("INC-3", None, None, "too short a window")

    assert not missing.names("cpu") and not missing.names(WORKER)
    assert missing.summary() == "INC-3: too short a window"
