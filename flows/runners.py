"""The Dask task runner, from settings: an existing scheduler or a LocalCluster."""

from __future__ import annotations

import logging

from prefect_dask import DaskTaskRunner

from sluice.settings import Settings, get_settings


def dask_task_runner(settings: Settings | None = None) -> DaskTaskRunner:
    """``SLUICE_DASK_ADDRESS`` points at a running scheduler; otherwise a LocalCluster."""
    settings = settings or get_settings()
    if settings.dask_address:
        return DaskTaskRunner(address=settings.dask_address)
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": settings.dask_workers,
            "threads_per_worker": 1,
            "processes": settings.dask_processes,
            "dashboard_address": None,
            "silence_logs": logging.WARNING,
        }
    )
