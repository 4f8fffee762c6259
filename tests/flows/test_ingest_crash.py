"""A run killed with SIGKILL mid-write leaves nothing half-visible; the next run completes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from deltalake import DeltaTable

from sluice.lake.log import vacuum
from sluice.lake.table import table_uri
from tests.flows.helpers import lake_table, run_ingest

pytestmark = pytest.mark.integration
ROWS = 400_000


def _write_big_orders(path: Path, rows: int) -> None:
    ids = np.arange(1, rows + 1)
    days = (
        pd.Timestamp("2024-01-01", tz="UTC")
        + pd.to_timedelta(ids % 60, unit="D")
        + pd.to_timedelta(ids % 86_400, unit="s")
    )
    frame = pd.DataFrame(
        {
            "order_id": ids,
            "customer_id": [f"C{i:06d}" for i in ids % 1_000_000],
            "order_ts": days.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "status": "paid",
            "amount": (ids % 700) + 0.25,
            "currency": "EUR",
            "quantity": (ids % 5) + 1,
            "discount": "",
            "channel": "web",
            "country": "DE",
            "email": "x@example.com",
            "updated_at": "",
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)


def _data_files(table_dir: Path) -> set[str]:
    return {str(p.relative_to(table_dir)) for p in table_dir.glob("dt=*/*.parquet")}


def _kill_during_commit(proc: subprocess.Popen, table_dir: Path, timeout: float = 240) -> bool:
    log = table_dir / "_delta_log"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if _data_files(table_dir) and not any(log.glob("*.json")):
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.002)
    return False


def test_sigkill_mid_write_leaves_no_visible_rows_and_rerun_completes(prefect_api, dask_address, sluice_home, tmp_path):
    src = tmp_path / "src"
    _write_big_orders(src / "big.csv", ROWS)
    table_dir = Path(table_uri(sluice_home.lake_root(), "orders"))
    env = {
        **os.environ,
        "PREFECT_API_URL": prefect_api,
        "SLUICE_HOME": str(sluice_home.home),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.flows.crash_worker", dask_address, "orders", str(src)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    killed = _kill_during_commit(proc, table_dir)

    assert killed, "the writer finished before it could be killed mid-write"
    orphans = _data_files(table_dir)
    assert orphans, "the kill should have left uncommitted data files behind"
    assert not any((table_dir / "_delta_log").glob("*.json")), "nothing may be committed"

    report = run_ingest(dask_address, "orders", str(src))

    assert report.rows_written == ROWS and report.rows_duplicate == 0
    ids = lake_table("orders").column("order_id").to_numpy()
    assert len(ids) == ROWS and len(np.unique(ids)) == ROWS
    live = {Path(f).name for f in DeltaTable(str(table_dir)).file_uris()}
    unreferenced = {Path(f).name for f in _data_files(table_dir)} - live
    assert {Path(o).name for o in orphans} <= unreferenced
    removed = vacuum(str(table_dir), retention_hours=0, dry_run=False)
    assert {Path(r).name for r in removed} == unreferenced
    assert DeltaTable(str(table_dir)).to_pyarrow_table().num_rows == ROWS
