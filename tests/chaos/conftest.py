"""Chaos tests: an isolated Sluice home per test in staging, the providers' state reset, stand-in drills."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from chaos import drill as drills
from chaos.drill import Drill
from sluice.settings import Settings, get_settings
from tests.chaos import providers
from tests.chaos.factories import begun_drill


@pytest.fixture()
def drill_env(tmp_path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """A fresh home (incident store, drill folders) in staging, with fast steady-state checks."""
    for name in list(os.environ):
        if name.startswith("SLUICE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SLUICE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SLUICE_ENV", "staging")
    monkeypatch.setenv("SLUICE_CHAOS_PROBE_SECONDS", "0.2")
    monkeypatch.setenv("SLUICE_CLI_RAISE", "1")
    providers.reset()
    yield get_settings(fresh=True)
    get_settings(fresh=True)


@pytest.fixture()
def staging_stack(drill_env, prefect_api, dask_address, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The local staging stack: the session's Prefect test server and Dask cluster; S3 comes with each drill."""
    monkeypatch.setenv("SLUICE_DASK_ADDRESS", dask_address)
    monkeypatch.setenv("SLUICE_CHAOS_PROBE_SECONDS", "1.5")
    return get_settings(fresh=True)


@pytest.fixture()
def stand_in_drill(drill_env, tmp_path) -> Iterator[Drill]:
    """The drill in progress on a stand-in stack (its folder, no servers), in a fresh staging home."""
    found = begun_drill(tmp_path / "drill")
    yield found
    drills.end(found)
