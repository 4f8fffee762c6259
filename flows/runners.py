"""The Dask task runner, from settings: an existing scheduler or a LocalCluster.

A LocalCluster's worker processes are forked from a *fork server*: one clean,
single-threaded process that imports the worker-side modules (Prefect, the
ingestion tasks, pandas, pandera, pyarrow) once. Spawned workers would each
import them again (about 4 s of CPU apiece on first use); forking the flow
process itself would copy its threads and any import lock one of them holds.
The fork server starts with the first local cluster of the process and lives
as long as the process, so later runs start their workers in milliseconds.

Thread workers (the default) run in this process, so importing this module
does what the fork server does on start (:mod:`tasks.preload`): otherwise the
first task on each thread loads Prefect's collections and pandera's backend,
both threads at once, queued on the import lock while the other stages data.
"""

from __future__ import annotations

import logging
import os
from multiprocessing import forkserver
from typing import Any

import dask.config
from distributed import LocalCluster
from prefect_dask.task_runners import DaskTaskRunner

import tasks.preload  # noqa: F401  (thread workers run in this process: prepare it as the fork server is)
from sluice.settings import Settings, get_settings

# Imported once in the fork server. No module here may read settings at import:
# workers forked later must see the environment of the run, not of the server.
WORKER_MODULES = ("distributed", "prefect_dask", "tasks.preload")
START_METHOD = "forkserver"
# Dask's MALLOC_TRIM_THRESHOLD_ also fixes glibc's mmap threshold at 128 KiB, so
# every NumPy mask or index array of a chunk was a fresh mmap, page-faulted
# and zeroed, then unmapped. At 4 MiB those come from the reused heap: about
# 10 % less CPU to stage a 2M-row file, with the same peak memory.
WORKER_MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(4 * 1024 * 1024)}
# Nothing reads Dask's statistical profiler from a local cluster (it has no
# dashboard), and with thread workers it walks their stacks 100 times a second
# under the GIL. Staging 5M rows took 6.07 s without it against 6.36 s with
# it (means of nine paired runs; less in seven of them). A cluster at
# SLUICE_DASK_ADDRESS keeps its own settings, and so does Dask's own variable
# DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED when it is set.
LOCAL_WORKER_CONFIG = {"distributed.worker.profile.enabled": False}
PROFILE_ENV = "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED"


def use_forkserver_workers(modules: tuple[str, ...] = WORKER_MODULES) -> None:
    """Make Dask fork local workers from the fork server, started with ``modules`` imported if not running yet.

    The server starts with Dask's pre-spawn environment (``MALLOC_TRIM_THRESHOLD_``
    and one thread for numeric libraries) and, unless already set,
    :data:`WORKER_MALLOC_ENV`, as a spawned worker would: those are read once,
    when a process starts, so a forked worker inherits the server's. (Dask's
    nanny sets them in this process's environment too.)
    """
    pre_spawn = dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {}
    os.environ.update({key: str(value) for key, value in pre_spawn.items()})
    for key, value in WORKER_MALLOC_ENV.items():
        os.environ.setdefault(key, value)
    forkserver.set_forkserver_preload(list(modules))
    forkserver.ensure_running()  # returns at once; the server imports in the background
    dask.config.set({"distributed.worker.multiprocessing-method": START_METHOD})


def local_cluster(**kwargs: Any) -> LocalCluster:
    """A LocalCluster whose worker processes fork from the fork server, with the caller's environment.

    Its workers run without Dask's profiler (:data:`LOCAL_WORKER_CONFIG`),
    unless Dask's own environment variable asks for it.
    """
    if level := kwargs.get("silence_logs"):  # Prefect's logging setup lets Dask's INFO chatter through otherwise
        logging.getLogger("distributed").setLevel(level)
    if kwargs.get("processes", True):
        use_forkserver_workers()
        kwargs["env"] = {**os.environ, **kwargs.get("env", {})}
    config = {} if PROFILE_ENV in os.environ else LOCAL_WORKER_CONFIG
    with dask.config.set(config):  # workers (and nannies) read it when they are made
        return LocalCluster(**kwargs)


def dask_task_runner(settings: Settings | None = None) -> DaskTaskRunner:
    """``SLUICE_DASK_ADDRESS`` points at a running scheduler; otherwise a LocalCluster.

    With ``SLUICE_DASK_MAX_WORKERS`` the LocalCluster is adaptive: it starts
    ``SLUICE_DASK_WORKERS`` workers and Dask adds more, up to the maximum, while
    tasks queue longer than it takes to run them, and retires them as they drain.
    """
    settings = settings or get_settings()
    if settings.dask_address:
        return DaskTaskRunner(address=settings.dask_address)
    kwargs: dict[str, Any] = {
        "n_workers": settings.dask_workers,
        "threads_per_worker": 1,
        "processes": settings.dask_processes,
        "dashboard_address": None,
        "silence_logs": logging.WARNING,
    }
    if settings.dask_max_workers is None:
        return DaskTaskRunner(cluster_class=local_cluster, cluster_kwargs=kwargs)
    adapt = {"minimum": settings.dask_workers, "maximum": settings.dask_max_workers}
    return DaskTaskRunner(cluster_class=local_cluster, cluster_kwargs=kwargs, adapt_kwargs=adapt)
