"""``ops quarantine replay|release|discard``: what each prints, and row ids that name nothing."""

from __future__ import annotations

import json

import pytest
from deltalake import DeltaTable
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.access.audit import AccessAction, read_audit
from sluice.lake.quarantine import QuarantineQuery, list_entries, open_quarantine
from tests.factories import mixed_orders
from tests.ops.factories import invoke, sluice_home
from tests.sluice.replay_worker import ingest, own_contracts, widen_statuses

UNKNOWN = "sluice-" + "0" * 32 + ":3"
HOSTILE = [
    "",
    ":",
    "../../etc/passwd",
    "sluice-../x:1",
    "sluice-" + "0" * 32 + ":-1",
    "sluice-" + "0" * 32,
    "\x00",
    UNKNOWN,
]


@pytest.fixture
def home(monkeypatch, tmp_path):
    contracts = own_contracts(tmp_path / "contracts")
    settings = sluice_home(monkeypatch, tmp_path, contracts_dir=str(contracts))
    ingest(settings, tmp_path / "src", mixed_orders(20))
    return settings


def _row(settings, order_id: int) -> str:
    entries = list_entries(open_quarantine(settings.quarantine_root()), QuarantineQuery(dataset="orders"), limit=None)
    return next(e.row_id for e in entries if e.record.get("order_id") == str(order_id))


def test_a_dry_run_prints_what_would_land_as_json_and_commits_nothing(home, tmp_path):
    widen_statuses(tmp_path / "contracts", "teleported")
    version = DeltaTable(f"{home.lake_root()}/orders").version()

    result = invoke("quarantine", "replay", "orders", "--dry-run", "-o", "json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["dry_run"] is True and report["landing"] == [_row(home, 23)]
    assert DeltaTable(f"{home.lake_root()}/orders").version() == version


def test_a_replay_prints_its_counts_in_80_columns(home, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    widen_statuses(tmp_path / "contracts", "teleported")

    result = invoke("quarantine", "replay", "orders", "--reason", "not_allowed_value")

    assert result.exit_code == 0, result.output
    assert "pass now: landed" in result.stdout and max(len(line) for line in result.stdout.splitlines()) <= 80


def test_an_unknown_reason_is_a_usage_error(home):
    result = invoke("quarantine", "replay", "orders", "--reason", "teleported")

    assert result.exit_code == 2 and "not a reason code" in result.output


def test_release_and_discard_find_the_dataset_from_the_ids_and_audit_the_note(home):
    released, discarded = _row(home, 22), _row(home, 24)

    first = invoke("quarantine", "release", released, "--note", "INC-7 refunds", "-o", "json")
    second = invoke("quarantine", "discard", discarded, "--note", "test order")

    assert first.exit_code == 0 and json.loads(first.stdout)["rows_written"] == 1, first.output
    assert second.exit_code == 0 and "discarded 1 row(s) of orders" in second.stdout, second.output
    notes = [
        r.reason
        for a in (AccessAction.QUARANTINE_RELEASE, AccessAction.QUARANTINE_DISCARD)
        for r in read_audit(home, action=a)
    ]
    assert notes == ["INC-7 refunds", "test order"]


def test_a_release_of_a_row_that_does_not_fit_fails_with_the_column(home):
    result = invoke("quarantine", "release", _row(home, 25), "--note", "try")

    assert result.exit_code == 1 and "quantity" in result.stderr


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    row=st.one_of(st.sampled_from(HOSTILE), st.text(max_size=60)),
    verb=st.sampled_from(["release", "discard"]),
)
def test_a_row_id_that_names_no_row_is_a_usage_error_and_decides_nothing(home, row, verb):
    result = invoke("quarantine", verb, row, "--note", "n", "--dataset", "orders")

    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "Invalid value for ROW_IDS" in result.output
    assert read_audit(home, action=AccessAction.QUARANTINE_DISCARD) == []
    assert read_audit(home, action=AccessAction.QUARANTINE_RELEASE) == []


def test_list_undecided_leaves_out_the_rows_a_replay_landed_or_a_steward_discarded(home, tmp_path):
    widen_statuses(tmp_path / "contracts", "teleported")
    landed, discarded = _row(home, 23), _row(home, 24)
    assert invoke("quarantine", "replay", "orders").exit_code == 0
    assert invoke("quarantine", "discard", discarded, "--note", "test order").exit_code == 0

    every = json.loads(invoke("quarantine", "list", "--dataset", "orders", "-o", "json").stdout)
    open_rows = json.loads(invoke("quarantine", "list", "--dataset", "orders", "--undecided", "-o", "json").stdout)

    assert len(every) == 7
    assert {e["row_id"] for e in every} - {e["row_id"] for e in open_rows} == {landed, discarded}
