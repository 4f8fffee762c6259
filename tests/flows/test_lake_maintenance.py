"""The lake-maintenance flow: vacuums old orphans, keeps young ones, clears staging of killed runs only."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

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
    try:
        kill(killed)

        removed = lake_maintenance()

        assert removed["orders"] == 1 and not old.exists() and young.exists()
        assert removed["staging_runs"] == 1 and removed["staging_bytes_freed"] >= 300_000
        assert sorted(p.name for p in root.iterdir()) == ["running-run"]
        assert "not_a_name" not in removed and "Not-A-Name" not in removed
    finally:
        kill(running)
        kill(killed)


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

    assert removed["quarantine_purged"] == 1 and old_files and not any(p.exists() for p in old_files)
    assert DeltaTable(uri).to_pyarrow_table().column("run_id").to_pylist() == ["new"]
