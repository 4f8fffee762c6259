"""The default task runner's LocalCluster: thread workers, or worker processes forked from the preloaded fork server."""

from __future__ import annotations

import logging
import os
import re
import sys
import time

import dask.config
import pytest
from distributed import Client
from prefect_dask import DaskTaskRunner

from flows.runners import dask_task_runner, local_cluster
from sluice.errors import ConfigError
from sluice.settings import Settings, get_settings


def _worker_view(name: str) -> dict[str, object]:
    return {"env": os.environ.get(name), "preloaded": "tasks.ingest" in sys.modules, "pid": os.getpid()}


def test_local_workers_start_with_the_tasks_imported_and_see_the_callers_environment(monkeypatch):
    monkeypatch.setenv("SLUICE_RUNNER_PROBE", "first")
    with (
        local_cluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.WARNING
        ) as cluster,
        Client(cluster) as client,
    ):
        first = client.submit(_worker_view, "SLUICE_RUNNER_PROBE", pure=False).result()
    monkeypatch.setenv("SLUICE_RUNNER_PROBE", "second")  # the fork server is already running now
    with (
        local_cluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.WARNING
        ) as cluster,
        Client(cluster) as client,
    ):
        second = client.submit(_worker_view, "SLUICE_RUNNER_PROBE", pure=False).result()

    assert first["preloaded"] and second["preloaded"]
    assert (first["env"], second["env"]) == ("first", "second")
    assert first["pid"] != os.getpid()


def test_an_address_in_settings_connects_instead_of_starting_a_cluster():
    runner = dask_task_runner(Settings(dask_address="tcp://127.0.0.1:8786"))

    assert isinstance(runner, DaskTaskRunner) and runner.address == "tcp://127.0.0.1:8786"


def test_without_an_address_the_runner_builds_a_local_cluster_of_the_configured_size():
    runner = dask_task_runner(Settings(dask_address=None, dask_workers=3))

    assert runner.address is None and runner.cluster_class is local_cluster
    assert runner.cluster_kwargs["n_workers"] == 3 and runner.cluster_kwargs["threads_per_worker"] == 1


def test_a_maximum_makes_the_local_cluster_adapt_within_its_bounds_as_tasks_queue_and_drain():
    runner = dask_task_runner(Settings(dask_address=None, dask_workers=1, dask_max_workers=3))
    assert dask_task_runner(Settings(dask_address=None)).adapt_kwargs == {}
    assert runner.adapt_kwargs == {"minimum": 1, "maximum": 3}
    counts: list[int] = []
    with runner.cluster_class(**{**runner.cluster_kwargs, "n_workers": 1}) as cluster, Client(cluster) as client:
        cluster.adapt(**runner.adapt_kwargs, interval="100ms", wait_count=5)
        futures = client.map(time.sleep, [0.4] * 40, pure=False)
        while not all(f.done() for f in futures):
            counts.append(len(cluster.scheduler_info["workers"]))
            time.sleep(0.1)
        deadline = time.monotonic() + 60
        while len(cluster.scheduler_info["workers"]) > 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        drained = len(cluster.scheduler_info["workers"])

    assert max(counts) > 1, "no worker was added while 40 tasks queued"
    assert max(counts) <= 3 and min(counts) >= 1
    assert drained == 1


def test_a_maximum_below_the_workers_is_a_config_error_naming_both(monkeypatch):
    monkeypatch.setenv("SLUICE_DASK_WORKERS", "4")
    monkeypatch.setenv("SLUICE_DASK_MAX_WORKERS", "2")
    with pytest.raises(ConfigError, match=re.escape("SLUICE_DASK_MAX_WORKERS (2) is below SLUICE_DASK_WORKERS (4)")):
        get_settings(fresh=True)


def test_local_workers_are_threads_of_the_flow_process_unless_processes_are_asked_for():
    assert dask_task_runner(Settings(dask_address=None)).cluster_kwargs["processes"] is False
    assert dask_task_runner(Settings(dask_address=None, dask_processes=True)).cluster_kwargs["processes"] is True


def _profiling(dask_worker) -> bool:
    return "profile" in dask_worker.periodic_callbacks


def test_local_workers_run_without_dasks_profiler():
    for processes in (False, True):
        with (
            local_cluster(
                n_workers=1,
                threads_per_worker=1,
                processes=processes,
                dashboard_address=None,
                silence_logs=logging.WARNING,
            ) as cluster,
            Client(cluster) as client,
        ):
            assert list(client.run(_profiling).values()) == [False], f"processes={processes}"


def test_dasks_own_variable_turns_the_profiler_back_on(monkeypatch):
    monkeypatch.setenv("DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED", "True")
    monkeypatch.setattr(dask.config, "config", dask.config.collect())  # as Dask reads its variables at import
    with (
        local_cluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None, silence_logs=logging.WARNING
        ) as cluster,
        Client(cluster) as client,
    ):
        assert list(client.run(_profiling).values()) == [True]
