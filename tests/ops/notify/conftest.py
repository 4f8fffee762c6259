"""Local PagerDuty (HTTPS, trustme CA) and Slack (HTTP) servers, and an incident store on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from ops.incidents.db import open_engine
from tests.ops.channels import pagerduty, slack, tls_ca  # noqa: F401  (local PagerDuty and Slack)
from tests.ops.incidents.conftest import incident_engine  # noqa: F401  (the store on both backends)
from tests.ops.notify.factories import RUNBOOKS


@pytest.fixture()
def sqlite_engine(tmp_path: Path) -> Engine:
    """The store on SQLite only, for tests about a channel's behaviour rather than the store's."""
    return open_engine(f"sqlite:///{tmp_path / 'incidents.db'}")


@pytest.fixture(autouse=True)
def _quick_delivery(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runbook links, and waits between retries too small to notice (tests record them instead)."""
    monkeypatch.setenv("SLUICE_RUNBOOK_BASE_URL", RUNBOOKS)
    monkeypatch.setenv("SLUICE_NOTIFY_BACKOFF_SECONDS", "0.001")
    monkeypatch.setenv("SLUICE_NOTIFY_TIMEOUT_SECONDS", "5")


QUICK_RETRIES = {
    "RETRY_SECONDS": "0.2",
    "RETRY_MAX_SECONDS": "0.5",
    "TIMEOUT_SECONDS": "1",
    "POLL_SECONDS": "0.2",
    "BACKOFF_MAX_SECONDS": "0.2",
    "BACKGROUND_SECONDS": "120",
}


@pytest.fixture()
def deliverers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Background deliverers that retry within a second, with their locks and logs in a folder of the test's;
    every one still running when the test ends is stopped (request this fixture after the store's)."""
    from tests.ops.notify.background import stop_deliverers

    run = tmp_path / "run"
    monkeypatch.setenv("SLUICE_NOTIFY_RUN_DIR", str(run))
    monkeypatch.setenv("SLUICE_NOTIFY_BACKGROUND", "true")  # the suite turns it off elsewhere
    for key, value in QUICK_RETRIES.items():
        monkeypatch.setenv(f"SLUICE_NOTIFY_{key}", value)
    yield run
    stop_deliverers(run)
