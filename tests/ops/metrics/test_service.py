"""The background sampler service: a real detached process sampling the host into the embedded store."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import psutil
import pytest

from ops.metrics.errors import MetricsError
from ops.metrics.models import Selector
from ops.metrics.service import pid_path, running_pid, start_service, stop_service
from ops.metrics.store import open_store
from sluice.settings import Settings
from tests.ops.factories import invoke, sluice_home

HOST_SERIES = Selector.parse('{__name__=~"sluice_host_.+",dataset="",flow=""}')


@pytest.fixture()
def home(monkeypatch, tmp_path) -> Iterator[Settings]:
    settings = sluice_home(monkeypatch, tmp_path, metrics_service_seconds="0.3")
    yield settings
    stop_service(settings.home)  # whatever a test left running


def wait_for_points(settings: Settings, points: int, within: float = 60.0) -> int:
    """Poll the store until every host metric has ``points`` points (a deadline against a hang, not a timing check)."""
    store = open_store(settings.metrics, home=settings.home)
    deadline = time.monotonic() + within
    while True:
        found = store.series(HOST_SERIES)
        fewest = min((info.points or 0 for info in found), default=0)
        if (len(found) >= 5 and fewest >= points) or time.monotonic() > deadline:
            return fewest
        time.sleep(0.3)


def test_the_service_samples_the_host_without_dataset_or_flow_labels_until_stopped(home):
    status = start_service(home.home, home)

    assert status.started and running_pid(home.home) == status.pid
    assert wait_for_points(home, 3) >= 3
    store = open_store(home.metrics, home=home.home)
    infos = store.series(HOST_SERIES)
    assert {i.metric for i in infos} >= {"sluice_host_cpu_percent", "sluice_host_memory_used_bytes"}
    assert all(i.labels["environment"] == home.env and i.labels["host"] for i in infos)

    assert stop_service(home.home) == status.pid
    assert running_pid(home.home) is None and not pid_path(home.home).exists()
    assert not psutil.pid_exists(status.pid) or psutil.Process(status.pid).status() == psutil.STATUS_ZOMBIE


def test_starting_it_again_finds_the_running_one(home):
    first = start_service(home.home, home)

    again = start_service(home.home, home)

    assert not again.started and again.pid == first.pid


def test_a_stale_pid_file_is_not_taken_for_a_running_service(home):
    home.home.mkdir(parents=True, exist_ok=True)
    pid_path(home.home).write_text(f"{os.getpid()}\n")  # a live process, but not the service

    assert running_pid(home.home) is None
    assert stop_service(home.home) is None and not pid_path(home.home).exists()


def test_with_the_prometheus_backend_it_is_refused_before_it_starts(monkeypatch, tmp_path):
    settings = sluice_home(monkeypatch, tmp_path, metrics_backend="prometheus")

    with pytest.raises(MetricsError, match="Prometheus scrapes instead") as info:
        start_service(settings.home, settings)

    assert "ops metrics serve" in str(info.value.hint) and running_pid(settings.home) is None


def test_the_cli_starts_reports_and_stops_it(home):
    started = invoke("metrics", "sampler", "start")
    status = invoke("metrics", "sampler", "status", "-o", "json")
    stopped = invoke("metrics", "sampler", "stop")
    after = invoke("metrics", "sampler", "status")

    assert started.exit_code == 0 and "sampler service started (pid" in started.stdout
    assert '"running": true' in status.stdout
    assert stopped.exit_code == 0 and "stopped the sampler service" in stopped.stdout
    assert "not running" in after.stdout


def test_the_points_it_writes_cover_the_time_it_ran(home):
    began = datetime.now(timezone.utc)
    start_service(home.home, home)
    wait_for_points(home, 4)
    stop_service(home.home)

    (cpu,) = open_store(home.metrics, home=home.home).query_range(
        Selector.parse('sluice_host_cpu_percent{dataset=""}'), began - timedelta(seconds=1), datetime.now(timezone.utc)
    )

    assert len(cpu) >= 4 and (cpu.values >= 0).all() and (cpu.values <= 100).all()
