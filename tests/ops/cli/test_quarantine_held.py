"""``ops quarantine held DATASET``: held rows with age, parent and fate; --expire releases them once."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.lake import held
from tests.ops.factories import invoke, sluice_home
from tests.sluice.lake.heldfixtures import held_count, hold_contracts, ingest_held, land_customers, order_ids


@pytest.fixture
def home(monkeypatch, tmp_path):
    found = sluice_home(monkeypatch, tmp_path, contracts_dir=str(hold_contracts(tmp_path / "contracts")))
    ingest_held(found, tmp_path / "src", 1, 4, "run-a")
    return found


def _listed(*extra: str) -> dict:
    result = invoke("quarantine", "held", "orders", "-o", "json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_held_rows_are_listed_with_the_parent_they_wait_for_and_their_fate(home):
    land_customers(home, [1])

    body = _listed()

    assert body["total"] == 4
    fates = {r["waits_for"]: r["fate"] for r in body["held"]}
    assert fates == {
        "": "parent landed",
        "customers.customer_id=C000002": "waiting",
        "customers.customer_id=C000003": "waiting",
        "customers.customer_id=C000004": "waiting",
    }
    assert all(r["held_run"] == "run-a" and r["age_seconds"] >= 0 and r["due_at"] for r in body["held"][1:])


def test_expire_lands_rows_whose_parent_came_and_quarantines_the_overdue_once(home, monkeypatch):
    land_customers(home, [1])
    later = datetime.now(timezone.utc) + timedelta(hours=2)
    monkeypatch.setattr(held, "utcnow", lambda: later)
    assert {r["fate"] for r in _listed()["held"]} == {"parent landed", "due"}

    first = _listed("--expire")
    again = _listed("--expire")

    assert first["release"]["rows_landed"] == 1 and first["release"]["rows_quarantined"] == 3
    assert (first["total"], again["release"], again["total"]) == (0, None, 0)
    assert order_ids(home) == [1] and held_count(home) == 0


def test_the_table_fits_80_columns(home, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    result = invoke("quarantine", "held", "orders")
    assert result.exit_code == 0, result.output
    assert "waiting" in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 80


def test_a_dataset_without_a_hold_reference_fails_with_a_hint(home):
    result = invoke("quarantine", "held", "customers")
    assert result.exit_code == 1
    assert "no reference of its contract has policy: hold" in result.output


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(min_size=1, max_size=40))
def test_any_dataset_name_is_an_error_message_never_a_traceback(home, name):
    result = invoke("quarantine", "held", name)
    assert result.exit_code in (1, 2), result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
