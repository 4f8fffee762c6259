"""Local PagerDuty (HTTPS, trustme CA) and Slack (HTTP) servers, and an incident store on SQLite and PostgreSQL."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from sqlalchemy.engine import Engine

from ops.incidents.db import open_engine
from ops.notify.receivers import FakeService, pagerduty_ok, slack_ok
from tests.ops.incidents.conftest import incident_engine  # noqa: F401  (the store on both backends)
from tests.ops.notify.factories import BOT_TOKEN, CHANNEL, ROUTING_KEY, RUNBOOKS


@pytest.fixture(scope="session")
def tls_ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, Path]:
    """A throwaway CA, and its certificate as a PEM file for ``SSL_CERT_FILE``."""
    ca = trustme.CA()
    path = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return ca, path


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


@pytest.fixture()
def pagerduty(tls_ca: tuple[trustme.CA, Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeService]:
    """A local Events API over HTTPS; the real client trusts its CA through ``SSL_CERT_FILE`` (httpx2 reads it)."""
    ca, pem = tls_ca
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    service = FakeService(pagerduty_ok, tls=context).start()
    monkeypatch.setenv("SSL_CERT_FILE", str(pem))
    monkeypatch.setenv("SLUICE_PAGERDUTY_ROUTING_KEY", ROUTING_KEY)
    monkeypatch.setenv("SLUICE_PAGERDUTY_EVENTS_URL", service.url)
    yield service
    service.stop()


@pytest.fixture()
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeService]:
    """A local Slack Web API; the bot token and channel point ``WebClient`` at it."""
    service = FakeService(slack_ok()).start()
    monkeypatch.setenv("SLUICE_SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLUICE_SLACK_CHANNEL", CHANNEL)
    monkeypatch.setenv("SLUICE_SLACK_API_URL", f"{service.url}/api/")
    yield service
    service.stop()


QUICK_RETRIES = {"RETRY_SECONDS": "0.2", "RETRY_MAX_SECONDS": "0.5", "TIMEOUT_SECONDS": "1", "POLL_SECONDS": "0.2",
                 "BACKOFF_MAX_SECONDS": "0.2", "BACKGROUND_SECONDS": "120"}


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
