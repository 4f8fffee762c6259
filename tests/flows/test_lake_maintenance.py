"""The lake-maintenance flow: vacuums old orphans, keeps young ones, clears staging of killed runs only."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sluice.access.audit import AccessAction, AccessRecord, read_audit, record_access
from sluice.settings import get_settings
from tests.ops.factories import write_lake_commit
from tests.staging_owner import kill, start_owner

pytestmark = pytest.mark.integration


def _orphan(table: str, name: str, age_hours: float) -> Path:
    path = Path(table) / "dt=2026-03-06" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"id": ["x"]}), path)
    then = time.time() - age_hours * 3600
    os.utime(path, (then, then))
    return path


def test_maintenance_removes_old_orphans_and_stale_staging_and_spares_what_may_still_run(
    prefect_api, sluice_home, monkeypatch
):
    from flows.lake_maintenance import lake_maintenance

    contracts = sluice_home.home / "contracts"
    contracts.mkdir(parents=True)
    shutil.copy(sluice_home.contracts_root() / "orders.yaml", contracts / "orders.yaml")
    (contracts / "Not-A-Name.yaml").write_text("name: nope\n")  # skipped, not fatal
    monkeypatch.setenv("SLUICE_CONTRACTS_DIR", str(contracts))
    settings = get_settings(fresh=True)
    table = write_lake_commit(settings, "orders", run_id="r1", counts={})
    old, young = _orphan(table, "part-old.parquet", 200), _orphan(table, "part-young.parquet", 1)
    root = settings.staging_root()
    killed = start_owner(root / "killed-run", size=300_000)
    running = start_owner(root / "running-run")
    for n in range(3):  # one small audit file per governed read
        record_access(AccessRecord(AccessAction.READ, f"analyst-{n}", "https://idp.test", dataset="orders"))
    try:
        kill(killed)

        result = lake_maintenance()
        removed = result.removed

        assert (result.optimized["audit"].files_before, result.optimized["audit"].files_after) == (3, 1)
        assert len(read_audit(settings)) == 3
        assert removed["orders"] == 1 and not old.exists() and young.exists()
        assert removed["staging_runs"] == 1 and removed["staging_bytes_freed"] >= 300_000
        assert sorted(p.name for p in root.iterdir()) == ["running-run"]
        assert "not_a_name" not in removed and "Not-A-Name" not in removed
    finally:
        kill(running)
        kill(killed)


def test_maintenance_applies_retention_except_under_a_hold_and_completes_due_erasure_certificates(
    prefect_api, tmp_path, monkeypatch
):
    from datetime import date, timedelta

    from flows.lake_maintenance import lake_maintenance
    from sluice.retention.certificate import load_certificate
    from sluice.retention.erasure import ErasureRequest
    from sluice.retention.holds import add_hold, release_hold
    from sluice.retention.service import run_erasure
    from sluice.retention.subjects import ensure_subject
    from sluice.runs.metastore import engine_for
    from tests.sluice.retention.lake import customers, every_version, holds_value, ingest, write_contracts

    monkeypatch.setenv("SLUICE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SLUICE_CONTRACTS_DIR", str(write_contracts(tmp_path / "contracts", customer_retention="30d")))
    settings = get_settings(fresh=True)
    old, recent = (date.today() - timedelta(days=d) for d in (100, 1))
    ingest(settings, "customers", customers(["old@example.com"], day=old.isoformat()))
    ingest(settings, "customers", customers(["new@example.com"], start=2, day=recent.isoformat()))
    ingest(settings, "tickets", [{"ticket_id": "T1", "opened": recent.isoformat(), "contact": "x@y.z", "priority": 1}])
    cert = run_erasure(settings, ErasureRequest([ensure_subject("email=x@y.z")], "r", retention_hours=0))
    engine = engine_for(settings.metadata_db_url())
    with engine.begin() as conn:
        hold = add_hold(conn, "customers", "audit 2026")

    held = lake_maintenance(retention_hours=0)
    with engine.begin() as conn:
        release_hold(conn, hold.hold_id)
    applied = lake_maintenance(retention_hours=0)

    customers_uri = f"{settings.lake_root()}/customers"
    assert [(r.dataset, r.held_by) for r in held.held] == [("customers", (f"{hold.hold_id}: audit 2026",))]
    assert (
        held.certificates_completed == [cert.certificate_id]
        and load_certificate(settings.home, cert.certificate_id).complete
    )
    assert not any(holds_value(t, "x@y.z") for t in every_version(f"{settings.lake_root()}/tickets").values())
    assert next(r for r in applied.retention if r.dataset == "customers").rows_deleted == 1 and applied.held == []
    assert not any(holds_value(t, "old@example.com") for t in every_version(customers_uri).values())
    assert any(holds_value(t, "new@example.com") for t in every_version(customers_uri).values())


def test_maintenance_deletes_quarantine_entries_past_their_retention_and_vacuums_their_files(
    prefect_api, sluice_home, monkeypatch
):
    from datetime import date, timedelta

    from deltalake import DeltaTable

    from flows.lake_maintenance import lake_maintenance
    from tests.ops.factories import QuarantineRow, write_quarantine

    contracts = sluice_home.home / "contracts"
    contracts.mkdir(parents=True)
    monkeypatch.setenv("SLUICE_CONTRACTS_DIR", str(contracts))
    monkeypatch.setenv("SLUICE_QUARANTINE_RETENTION_DAYS", "30")
    settings = get_settings(fresh=True)
    today = date.today()
    uri = write_quarantine(
        settings,
        [QuarantineRow(dt=today - timedelta(days=40), run_id="old"), QuarantineRow(dt=today, run_id="new")],
    )
    old_files = list(Path(uri).glob(f"dataset=customers/dt={today - timedelta(days=40)}/*.parquet"))

    removed = lake_maintenance(retention_hours=0)

    assert removed.removed["quarantine_purged"] == 1 and old_files and not any(p.exists() for p in old_files)
    assert DeltaTable(uri).to_pyarrow_table().column("run_id").to_pylist() == ["new"]


def _contracts_with_layout(root: Path, source: Path, *, zorder: list[str], extra_column: str | None = None) -> Path:
    import yaml

    contract = yaml.safe_load((source / "orders.yaml").read_text())
    contract["maintenance"] = {"zorder": zorder, "target_file_mb": 16}
    if extra_column is not None:  # a column the contract has and the table does not have yet
        contract["columns"].append({"name": extra_column, "type": "string", "nullable": True})
    root.mkdir(parents=True, exist_ok=True)
    (root / "orders.yaml").write_text(yaml.safe_dump(contract))
    return root


def _orders_runs(settings, tmp_path: Path, runs: int) -> str:
    import dataclasses

    from sluice.lake.table import table_uri
    from tests.sluice.lake.commit_worker import run
    from tests.sluice.lake.maintained import order_file, run_spec

    uri = table_uri(settings.lake_root(), "orders")
    for i in range(runs):
        spec = dataclasses.replace(run_spec(tmp_path, f"run-{i}", [order_file(tmp_path, i, rows=4)]), lake_uri=uri)
        assert run(spec)["error"] == ""
    return uri


def test_maintenance_z_orders_each_crowded_date_as_the_contract_says_and_checkpoints(
    prefect_api, sluice_home, tmp_path, monkeypatch
):
    from flows.lake_maintenance import lake_maintenance
    from tests.sluice.lake.maintained import files_per_day, rows

    contracts = _contracts_with_layout(tmp_path / "contracts", sluice_home.contracts_root(), zorder=["customer_id"])
    monkeypatch.setenv("SLUICE_CONTRACTS_DIR", str(contracts))
    uri = _orders_runs(get_settings(fresh=True), tmp_path, 3)
    before = rows(uri)

    result = lake_maintenance()

    optimized = result.optimized["orders"]
    assert optimized.zorder == ["customer_id"] and optimized.target_size == 16 * 1024 * 1024
    assert (optimized.files_before, optimized.files_after) == (6, 2) and optimized.checkpointed
    assert rows(uri) == before and set(files_per_day(uri).values()) == {1}
    assert result.removed["orders"] == 0  # the replaced files are younger than the retention: kept


def test_a_z_order_column_the_table_lacks_fails_the_run_after_every_other_step_ran(
    prefect_api, sluice_home, tmp_path, monkeypatch
):
    from flows.lake_maintenance import lake_maintenance
    from tests.sluice.lake.maintained import files_per_day

    uri = _orders_runs(sluice_home, tmp_path, 2)
    contracts = _contracts_with_layout(
        tmp_path / "contracts", sluice_home.contracts_root(), zorder=["channel_v2"], extra_column="channel_v2"
    )
    monkeypatch.setenv("SLUICE_CONTRACTS_DIR", str(contracts))
    get_settings(fresh=True)
    old = _orphan(uri, "part-old.parquet", 200)

    state = lake_maintenance(return_state=True)

    assert state.is_failed()
    assert "optimizing orders failed" in str(state.message) or "optimizing orders failed" in repr(state)
    assert not old.exists()  # the vacuum still ran
    assert set(files_per_day(uri).values()) == {2}  # nothing was rewritten
