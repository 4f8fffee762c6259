"""The ingest flow checks names at the door, records every run (also one that fails first), and clears stale staging."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from typer.testing import CliRunner

from sluice.errors import ConfigError, SourceNotFoundError
from sluice.runs.metastore import engine_for, list_runs
from sluice.settings import get_settings
from tests.factories import OrderBatch, good_orders, write_csv
from tests.flows.helpers import lake_table, run_ingest, run_ingest_state
from tests.staging_owner import kill, start_owner

pytestmark = pytest.mark.integration


def _runs(dataset: str | None = None):
    with engine_for(get_settings().metadata_db_url()).begin() as conn:
        return list_runs(conn, dataset=dataset)


def test_a_dataset_name_that_climbs_out_of_the_lake_fails_first_and_is_recorded(
    prefect_api, dask_address, sluice_home, tmp_path, monkeypatch
):
    home = sluice_home.home
    contracts = home / "contracts"
    contracts.mkdir(parents=True)
    shipped = (sluice_home.contracts_root() / "orders.yaml").read_text()
    (contracts / "orders.yaml").write_text(shipped)
    (home / "c2").mkdir()
    (home / "c2" / "orders2.yaml").write_text(shipped.replace("name: orders", "name: orders2", 1))
    monkeypatch.setenv("SLUICE_CONTRACTS_DIR", str(contracts))
    get_settings(fresh=True)
    write_csv(tmp_path / "src" / "o.csv", OrderBatch(rows=good_orders(3)))

    state = run_ingest_state(dask_address, "../c2/orders2", str(tmp_path / "src"))

    assert state.is_failed()
    with pytest.raises(ConfigError, match=re.escape("dataset name '../c2/orders2' holds a path separator")):
        state.result()
    assert sorted(p.name for p in (home / "c2").iterdir()) == ["orders2.yaml"]  # no table beside the lake
    assert not (home / "quarantine").exists() and not (home / "lake").exists()
    assert not (home / "staging").exists() or not any((home / "staging").iterdir())
    [run] = _runs()
    assert (run.dataset, run.status) == ("'../c2/orders2'", "failed")
    assert "holds a path separator" in run.error and run.finished_at is not None


def test_a_run_whose_source_cannot_be_listed_leaves_a_failed_record_that_ops_runs_lists(
    prefect_api, dask_address, sluice_home, tmp_path
):
    from ops.cli import app

    state = run_ingest_state(dask_address, "orders", str(tmp_path / "nope"))

    assert state.is_failed()
    with pytest.raises(SourceNotFoundError):
        state.result()
    [run] = _runs("orders")
    assert run.status == "failed" and "does not exist" in run.error and run.rows_read == 0
    listed = CliRunner().invoke(app, ["runs", "list", "--dataset", "orders", "-o", "json"])
    assert listed.exit_code == 0, listed.output
    [row] = json.loads(listed.stdout)
    assert (row["run_id"], row["status"]) == (run.run_id, "failed")


def test_a_run_removes_the_staging_of_a_killed_run_and_spares_a_running_one(
    prefect_api, dask_address, sluice_home, tmp_path
):
    root = sluice_home.staging_root()
    killed = start_owner(root / "killed-run", size=200_000)
    running = start_owner(root / "running-run")
    try:
        kill(killed)
        write_csv(tmp_path / "src" / "o.csv", OrderBatch(rows=good_orders(4)))

        report = run_ingest(dask_address, "orders", str(tmp_path / "src"))

        assert report.rows_written == 4 and lake_table("orders").num_rows == 4
        assert not (root / "killed-run").exists()
        assert (root / "running-run" / "000000-batch" / "valid" / "c00000.arrow").exists()
        assert sorted(p.name for p in root.iterdir()) == ["running-run"]  # the run removed its own folder too
    finally:
        kill(running)
        kill(killed)
        shutil.rmtree(root / "running-run", ignore_errors=True)
