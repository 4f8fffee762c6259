"""``ops erase`` and ``ops hold``: a blocked erasure exits 1 with the hold and a hint; certificates show and list."""

from __future__ import annotations

import json

import pytest

from tests.ops.factories import invoke
from tests.sluice.retention.conftest import JANE, fill
from tests.sluice.retention.lake import write_contracts


@pytest.fixture()
def filled(tmp_path, monkeypatch):
    from ops.cli._utilities import console
    from sluice.settings import get_settings

    monkeypatch.setenv("SLUICE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SLUICE_CONTRACTS_DIR", str(write_contracts(tmp_path / "contracts")))
    for var in ("SLUICE_LAKE_URI", "SLUICE_QUARANTINE_URI", "SLUICE_METADATA_URL", "SLUICE_STAGING_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(console, "_width", 80)
    settings = get_settings(fresh=True)
    fill(settings)
    yield settings
    get_settings(fresh=True)


def test_a_hold_blocks_the_erasure_with_exit_1_until_released(filled):
    added = invoke(
        "hold", "add", "--dataset", "tickets", "--subject", f"email={JANE}", "--reason", "case 7", "-o", "json"
    )
    hold = json.loads(added.stdout)

    blocked = invoke("erase", "--subject", f"email={JANE}", "--reason", "req 1")
    listed = invoke("hold", "list", "--output", "json")
    released = invoke("hold", "release", hold["hold_id"])
    erased = invoke("erase", "--subject", f"email={JANE}", "--reason", "req 1", "--vacuum-now", "-o", "json")

    assert added.exit_code == 0 and JANE not in added.stdout and hold["subject_key"] == "email"
    assert blocked.exit_code == 1 and hold["hold_id"] in blocked.stderr and "case 7" in blocked.stderr
    assert "hint:" in blocked.stderr and "Traceback" not in blocked.output
    assert [h["hold_id"] for h in json.loads(listed.stdout)] == [hold["hold_id"]]
    assert released.exit_code == 0
    assert erased.exit_code == 0, erased.output
    cert = json.loads(erased.stdout)
    assert {p["table"] for p in cert["places"]} == {"customers", "tickets", "quarantine"}


def test_the_certificate_shows_and_lists_in_80_columns_and_a_repeat_finds_nothing(filled):
    first = invoke(
        "erase", "--subject", f"email={JANE}", "--subject", "customer_id=C000001", "--reason", "r", "-o", "json"
    )
    cert_id = json.loads(first.stdout)["certificate_id"]

    shown = invoke("erase", "show", cert_id)
    listed = invoke("erase", "list")
    again = invoke("erase", "--subject", f"email={JANE}", "--reason", "r")

    assert shown.exit_code == 0 and "pending vacuum" in shown.stdout and "quarantine" in shown.stdout
    assert max(len(line) for line in shown.stdout.splitlines()) <= 80
    assert JANE not in shown.stdout and cert_id in listed.stdout
    vacuumed = invoke("erase", "--subject", f"email={JANE}", "--reason", "r", "--vacuum-now")
    last = invoke("erase", "--subject", f"email={JANE}", "--reason", "r")
    assert again.exit_code == 0 and "nothing to delete, pending vacuum" in again.stdout
    assert vacuumed.exit_code == 0 and "complete" in vacuumed.stdout
    assert last.exit_code == 0 and "found nowhere" in last.stdout


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["erase", "--reason", "r"], 2),
        (["erase", "--subject", "email=x"], 2),
        (["erase", "--subject", "no-equals", "--reason", "r"], 1),
        (["erase", "show", "../../etc/passwd"], 1),
        (["erase", "show", "er-20260101T000000Z-00000000"], 1),
        (["hold", "release", "hold-nope"], 1),
        (["hold", "add", "--dataset", "Bad Name", "--reason", "r"], 1),
    ],
)
def test_bad_input_is_one_error_line_with_a_hint(filled, args, code):
    result = invoke(*args)

    assert result.exit_code == code, result.output
    assert "error:" in result.stderr and "Traceback" not in result.output


def test_hold_list_fits_80_columns_with_long_reasons_and_shows_released_ones_with_all(tmp_path, monkeypatch):
    from ops.cli._utilities import console
    from tests.ops.factories import sluice_home

    sluice_home(monkeypatch, tmp_path)
    monkeypatch.setattr(console, "_width", 80)
    reason = "preservation order of the district court in the matter of a very long case title 2026-0114-b"
    first = invoke("hold", "add", "--dataset", "customer_support_tickets_archive", "--reason", reason, "-o", "json")
    invoke("hold", "add", "--dataset", "orders", "--subject", "customer_id=C000001", "--reason", "dispute")
    invoke("hold", "release", json.loads(first.stdout)["hold_id"])

    active = invoke("hold", "list")
    every = invoke("hold", "list", "--all", "--output", "json")

    assert active.exit_code == 0 and "customer_id=sha256:" in active.stdout and "C000001" not in active.stdout
    assert "customer_support_tickets_archive" not in active.stdout
    assert max(len(line) for line in active.stdout.splitlines()) <= 80
    assert [h["released_at"] is not None for h in json.loads(every.stdout)] == [True, False]
