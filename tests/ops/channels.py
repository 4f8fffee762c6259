"""Local PagerDuty (HTTPS, a throwaway trustme CA) and Slack servers, as fixtures any ops test can import."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.ops.notify.factories import BOT_TOKEN, CHANNEL, ROUTING_KEY
from tests.standins.pagerduty_slack import FakeService, pagerduty_ok, slack_ok


@pytest.fixture(scope="session")
def tls_ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, Path]:
    """A throwaway CA, and its certificate as a PEM file for ``SSL_CERT_FILE``."""
    ca = trustme.CA()
    path = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return ca, path


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
