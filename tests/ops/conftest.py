"""Isolation for ``ops`` tests: no SLUICE_*/PREFECT_API_URL from the outer shell leaks in."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from sluice.settings import get_settings


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("SLUICE_") or name == "PREFECT_API_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("SLUICE_CLI_RAISE", "1")  # unexpected errors show their traceback
    get_settings(fresh=True)
    yield
    monkeypatch.undo()
    get_settings(fresh=True)  # leave the cache as the outer environment defines it
