"""A Sluice home with the three test contracts, and a subject present in all three datasets and the quarantine."""

from __future__ import annotations

import pytest

from sluice.settings import Settings, get_settings
from tests.sluice.retention.lake import customers, ingest, write_contracts

JANE = 'jane.o\'neil+"x"@example.com'  # quotes on purpose: a value is data, never SQL text


@pytest.fixture()
def home(tmp_path, monkeypatch) -> Settings:
    monkeypatch.setenv("SLUICE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SLUICE_CONTRACTS_DIR", str(write_contracts(tmp_path / "contracts")))
    for var in ("SLUICE_LAKE_URI", "SLUICE_QUARANTINE_URI", "SLUICE_METADATA_URL", "SLUICE_STAGING_DIR"):
        monkeypatch.delenv(var, raising=False)
    yield get_settings(fresh=True)
    get_settings(fresh=True)


def fill(settings: Settings) -> None:
    """Jane (C000001) in customers, orders (by customer id), tickets (by e-mail, a term) and the quarantine."""
    ingest(settings, "customers", customers([JANE, "bob@example.com"]))
    ingest(settings, "customers", customers(["carl@example.com"], start=3, day="2026-02-05"))
    ingest(
        settings,
        "orders",
        [
            {"order_id": 1, "order_date": "2026-02-02", "customer_id": "C000001", "amount": 3.5},
            {"order_id": 2, "order_date": "2026-02-02", "customer_id": "C000002", "amount": 1.0},
            {"order_id": 3, "order_date": "2026-02-03", "customer_id": "C000001", "amount": 7.0},
        ],
    )
    ingest(
        settings,
        "tickets",
        [
            {"ticket_id": "T1", "opened": "2026-02-03", "contact": JANE, "priority": 9},  # quarantined: priority
            {"ticket_id": "T2", "opened": "2026-02-03", "contact": JANE, "priority": 2},
            {"ticket_id": "T3", "opened": "2026-02-03", "contact": "bob@example.com", "priority": 3},
            {"ticket_id": "T4", "opened": "2026-02-03", "contact": "bob@example.com", "priority": 0},  # quarantined
        ],
    )


@pytest.fixture()
def filled(home) -> Settings:
    fill(home)
    return home
