"""The local PagerDuty and Slack of ``tests/ops/channels.py``, for the flows that page."""

from collections.abc import Iterator

import pytest

from sluice.settings import get_settings
from tests.ops.channels import pagerduty, slack, tls_ca  # noqa: F401
from tests.sluice.sources.streams.conftest import EVENTS


@pytest.fixture()
def events_home(sluice_home, tmp_path, monkeypatch) -> Iterator[None]:
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    (contracts / "events.yaml").write_text(EVENTS, encoding="utf-8")
    monkeypatch.setenv("SLUICE_CONTRACTS_DIR", str(contracts))
    get_settings(fresh=True)
    yield
