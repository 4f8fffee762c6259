"""Quarantine replay: after a contract fix, the rows that now pass land in the lake exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable

from sluice.access.audit import AccessAction, read_audit
from sluice.errors import ConfigError
from sluice.lake.quarantine import QuarantineQuery, list_entries, open_quarantine
from sluice.lake.quarantine_ledger import UnknownRowError
from sluice.lake.replay import UnfitRowError
from sluice.lake.table import table_uri
from sluice.replay import ReplayRequest, discard, release, replay
from sluice.runs.metastore import engine_for, get_run
from tests.factories import CARTS_CONTRACT, mixed_orders
from tests.ops.factories import sluice_home
from tests.sluice.replay_worker import ingest, own_contracts, widen_statuses

ROOT = Path(__file__).resolve().parents[2]
BATCH = mixed_orders(20)  # order 23 has status "teleported"; 21, 22, 24, 25 and one without an id fail other rules
TELEPORTED = 23


@pytest.fixture
def quarantined(monkeypatch, tmp_path):
    """Settings of a home whose orders were ingested once, with seven rows quarantined."""
    contracts = own_contracts(tmp_path / "contracts")
    settings = sluice_home(monkeypatch, tmp_path, contracts_dir=str(contracts))
    ingest(settings, tmp_path / "src", BATCH)
    return settings


def _lake(settings) -> DeltaTable:
    return DeltaTable(table_uri(settings.lake_root(), "orders"))


def _order_ids(settings) -> list[int]:
    return sorted(_lake(settings).to_pyarrow_table(columns=["order_id"]).column("order_id").to_pylist())


def _entries(settings, **query):
    table = open_quarantine(settings.quarantine_root())
    return list_entries(table, QuarantineQuery(dataset="orders", **query), limit=None)


def _row_of(settings, order_id: int) -> str:
    return next(e.row_id for e in _entries(settings) if e.record.get("order_id") == str(order_id))


def test_a_contract_fix_lands_exactly_the_rows_that_now_pass_and_counts_them_once(quarantined, tmp_path):
    before = _order_ids(quarantined)
    widen_statuses(tmp_path / "contracts", "teleported")

    report = replay(ReplayRequest("orders"), quarantined)

    assert report.landing == [_row_of(quarantined, TELEPORTED)]
    assert _order_ids(quarantined) == sorted([*before, TELEPORTED])
    assert (report.rows_written, len(report.still_failing), len(report.unsplit)) == (1, 5, 1)
    with engine_for(quarantined.metadata_db_url()).connect() as conn:
        run = get_run(conn, report.run_id)
    assert run is not None and run.flow == "quarantine-replay"
    assert (run.rows_read, run.rows_written, run.rows_quarantined) == (1, 1, 0)  # one row moved, counted once
    assert run.warnings == {"replay:still_failing": 5, "replay:unsplit": 1}
    assert len(_entries(quarantined)) == 7  # the quarantine keeps its history; the ledger says what became of it


def test_a_second_replay_lands_nothing_and_leaves_the_table_alone(quarantined, tmp_path):
    widen_statuses(tmp_path / "contracts", "teleported")
    replay(ReplayRequest("orders"), quarantined)
    version, ids = _lake(quarantined).version(), _order_ids(quarantined)

    again = replay(ReplayRequest("orders"), quarantined)

    assert (again.considered, again.landing, again.rows_written) == (6, [], 0)
    assert (_lake(quarantined).version(), _order_ids(quarantined)) == (version, ids)


def test_a_dry_run_says_what_would_land_and_changes_nothing(quarantined, tmp_path):
    widen_statuses(tmp_path / "contracts", "teleported")
    version = _lake(quarantined).version()

    dry = replay(ReplayRequest("orders", dry_run=True), quarantined)

    assert dry.landing == [_row_of(quarantined, TELEPORTED)] and dry.rows_written == 0
    assert _lake(quarantined).version() == version
    assert replay(ReplayRequest("orders"), quarantined).landing == dry.landing  # nothing was marked either


def test_filters_pick_the_rows_a_replay_considers(quarantined, tmp_path):
    widen_statuses(tmp_path / "contracts", "teleported")

    other = replay(ReplayRequest("orders", reason="out_of_range"), quarantined)
    mine = replay(ReplayRequest("orders", reason="not_allowed_value", run_id="ingest-1"), quarantined)

    assert other.landing == [] and other.considered >= 1
    assert mine.landing == [_row_of(quarantined, TELEPORTED)]


def test_a_row_committed_by_a_replay_that_stopped_before_its_ledger_row_is_not_committed_again(
    quarantined, tmp_path, monkeypatch
):
    import sluice.replay as service

    widen_statuses(tmp_path / "contracts", "teleported")
    with monkeypatch.context() as patched:
        patched.setattr(service, "record", lambda conn, rows: 0)  # the process "stops" before its ledger rows
        replay(ReplayRequest("orders"), quarantined)
    ids = _order_ids(quarantined)

    again = replay(ReplayRequest("orders"), quarantined)

    assert again.already_landed == [_row_of(quarantined, TELEPORTED)] and again.landing == []
    assert _order_ids(quarantined) == ids


def _at_once(settings, contracts: Path, *decisions: list[str]) -> list[dict]:
    """Run one worker process per decision ([] replays) at the same time; their outcomes, in order."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    base = [sys.executable, "-m", "tests.sluice.replay_worker", str(settings.home), str(contracts)]
    procs = [
        subprocess.Popen([*base, *d], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for d in decisions
    ]
    outcomes = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
        outcomes.append(json.loads(out.strip().splitlines()[-1]))
    return outcomes


def test_two_replay_processes_at_once_land_each_row_once(quarantined, tmp_path):
    widen_statuses(tmp_path / "contracts", "teleported")

    reports = _at_once(quarantined, tmp_path / "contracts", [], [])

    assert sorted(len(r["landing"]) for r in reports) == [0, 1]
    assert sum(r["rows_written"] for r in reports) == 1
    ids = _order_ids(quarantined)
    assert ids.count(TELEPORTED) == 1 and len(ids) == len(set(ids))


def test_two_replay_processes_on_a_postgresql_metadata_store_land_each_row_once(monkeypatch, tmp_path):
    from tests.ops.incidents.conftest import fresh_postgres_database

    with fresh_postgres_database() as url:
        contracts = own_contracts(tmp_path / "contracts")
        settings = sluice_home(monkeypatch, tmp_path, contracts_dir=str(contracts), metadata_url=url)
        ingest(settings, tmp_path / "src", BATCH)
        widen_statuses(contracts, "teleported")

        reports = _at_once(settings, contracts, [], [])

        assert sorted(len(r["landing"]) for r in reports) == [0, 1]
        assert _order_ids(settings).count(TELEPORTED) == 1
        engine_for(url).dispose()


def test_a_release_a_discard_and_a_replay_of_one_row_at_once_decide_it_once(quarantined, tmp_path):
    widen_statuses(tmp_path / "contracts", "teleported")
    row = _row_of(quarantined, TELEPORTED)

    released, discarded, replayed = _at_once(
        quarantined, tmp_path / "contracts", ["release", row], ["discard", row], []
    )

    landed = [row in released.get("landing", []), discarded.get("discarded") == 1, row in replayed["landing"]]
    assert landed.count(True) == 1, (released, discarded, replayed)
    assert _order_ids(quarantined).count(TELEPORTED) == (0 if landed[1] else 1)
    assert all("refused" in o for o, won in zip((released, discarded), landed[:2], strict=True) if not won)


def test_a_released_row_lands_as_it_is_with_its_note_in_the_audit(quarantined):
    row = _row_of(quarantined, 22)  # amount -5: out of range, but a float

    report = release("orders", [row], "INC-7: refunds are negative", quarantined)

    amounts = _lake(quarantined).to_pyarrow_table(columns=["order_id", "amount"])
    mine = amounts.filter(pc.equal(amounts.column("order_id"), 22))
    assert report.landing == [row] and mine.column("amount").to_pylist() == [-5.0]
    [audit] = read_audit(quarantined, action=AccessAction.QUARANTINE_RELEASE)
    assert audit.reason == "INC-7: refunds are negative" and json.loads(audit.detail or "{}") == {"row_ids": [row]}
    assert row not in replay(ReplayRequest("orders", dry_run=True), quarantined).still_failing


def test_a_row_that_does_not_fit_the_lake_types_is_refused_and_nothing_is_recorded(quarantined):
    row = _row_of(quarantined, 25)  # quantity "two"
    version = _lake(quarantined).version()

    with pytest.raises(UnfitRowError, match="quantity"):
        release("orders", [row], "try", quarantined)

    assert _lake(quarantined).version() == version
    assert read_audit(quarantined, action=AccessAction.QUARANTINE_RELEASE) == []


def test_a_discarded_row_is_never_replayed_and_the_discard_is_audited(quarantined, tmp_path):
    row = _row_of(quarantined, TELEPORTED)

    assert discard("orders", [row], "a test order, not a real one", quarantined) == 1
    widen_statuses(tmp_path / "contracts", "teleported")

    assert replay(ReplayRequest("orders"), quarantined).landing == []
    assert TELEPORTED not in _order_ids(quarantined)
    [audit] = read_audit(quarantined, action=AccessAction.QUARANTINE_DISCARD)
    assert audit.dataset == "orders" and audit.rows == 1
    with pytest.raises(UnknownRowError, match="discarded already"):
        discard("orders", [row], "again", quarantined)


def test_unknown_row_ids_are_refused_before_anything_is_decided(quarantined):
    known = _row_of(quarantined, TELEPORTED)
    unknown = "sluice-" + "0" * 32 + ":3"

    with pytest.raises(UnknownRowError, match="no quarantined row"):
        discard("orders", [known, unknown], "mixed", quarantined)

    assert read_audit(quarantined, action=AccessAction.QUARANTINE_DISCARD) == []


def test_a_replay_of_one_run_finds_its_rows_by_a_run_id_as_long_as_a_flow_runs(monkeypatch, tmp_path):
    contracts = own_contracts(tmp_path / "contracts")
    settings = sluice_home(monkeypatch, tmp_path, contracts_dir=str(contracts))
    run_id = "0f8e9d2c-1b3a-4c5d-8e7f-123456789abc"  # longer than the bounds the files' statistics keep
    ingest(settings, tmp_path / "src", BATCH, run_id=run_id)
    widen_statuses(contracts, "teleported")

    report = replay(ReplayRequest("orders", run_id=run_id), settings)

    assert report.considered == 7 and report.landing == [_row_of(settings, TELEPORTED)]


@pytest.mark.parametrize(("dataset", "why"), [("orders", r"protects columns \(email\)"), ("carts", "explodes arrays")])
def test_replay_and_release_refuse_protected_and_exploding_contracts_with_a_way_out(
    monkeypatch, tmp_path, dataset, why
):
    contracts = own_contracts(tmp_path / "contracts")
    orders = contracts / "orders.yaml"
    orders.write_text(orders.read_text().replace("pii: email", "pii: email\n    protect: token", 1))
    (contracts / "carts.yaml").write_text(CARTS_CONTRACT)
    settings = sluice_home(monkeypatch, tmp_path, contracts_dir=str(contracts))
    for attempt in (
        lambda: replay(ReplayRequest(dataset), settings),
        lambda: release(dataset, ["b:1"], "INC-1", settings),
    ):
        with pytest.raises(ConfigError, match=why) as refused:
            attempt()
        assert "ops quarantine discard" in (refused.value.hint or "")
    assert open_quarantine(settings.quarantine_root()) is None  # refused before anything was read or written
