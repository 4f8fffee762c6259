"""Session-wide real stack: one Prefect test server and one Dask LocalCluster.

Both start lazily, once per test session, only for the tests that ask for them.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("DO_NOT_TRACK", "1")
# No detached notification deliverer outlives a test: the tests of the deliverer turn it on themselves.
os.environ.setdefault("SLUICE_NOTIFY_BACKGROUND", "false")


@pytest.fixture(scope="session")
def prefect_api() -> str:
    """A real Prefect API server (SQLite) for the whole session; yields its URL."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    # A loaded machine can take minutes to start it; one failed start errors every test of the worker.
    with prefect_test_harness(server_startup_timeout=240):
        yield str(PREFECT_API_URL.value())


@pytest.fixture(scope="session")
def dask_address() -> str:
    """A Dask LocalCluster with two worker processes for the whole session."""
    import logging

    from distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.WARNING
    )
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


@pytest.fixture()
def sluice_home(tmp_path, monkeypatch):
    """A fresh Sluice home (lake, quarantine, staging, metadata) for one test."""
    from sluice.settings import get_settings

    home = tmp_path / "home"
    monkeypatch.setenv("SLUICE_HOME", str(home))
    for var in (
        "SLUICE_LAKE_URI",
        "SLUICE_QUARANTINE_URI",
        "SLUICE_METADATA_URL",
        "SLUICE_STAGING_DIR",
        "SLUICE_STAGING_URI",
        "SLUICE_DASK_ADDRESS",
        "SLUICE_STORAGE_OPTIONS",
        "SLUICE_LAKE_STORAGE_OPTIONS",
    ):
        monkeypatch.delenv(var, raising=False)
    settings = get_settings(fresh=True)
    yield settings
    get_settings(fresh=True)
