"""Completeness against the source: a file drop's manifest against what the ingest-files flow read."""

from __future__ import annotations

import json

import pytest

from sluice.errors import CompletenessError
from sluice.runs.metastore import engine_for, get_run, list_runs
from sluice.settings import get_settings
from tests.factories import OrderBatch, good_orders, write_csv
from tests.flows.helpers import lake_table
from tests.sluice.replay_worker import own_contracts

pytestmark = pytest.mark.integration


def _policy(monkeypatch, tmp_path, completeness: str) -> None:
    contracts = own_contracts(tmp_path / "contracts")
    path = contracts / "orders.yaml"
    path.write_text(path.read_text() + f"completeness: {completeness}\n")
    monkeypatch.setenv("SLUICE_CONTRACTS_DIR", str(contracts))


def _export(tmp_path, rows: int, stated: int, amount_sum: float | None = None):
    """A CSV export of ``rows`` good orders whose manifest states ``stated`` rows (a truncated export parses)."""
    batch = OrderBatch(rows=good_orders(rows))
    write_csv(tmp_path / "src" / "orders-2024.csv", batch)
    manifest = {"rows": stated, "exported_at": "2024-03-06T00:00:00Z"}
    if amount_sum is not None:
        manifest["sums"] = {"amount": amount_sum}
    (tmp_path / "src" / "orders-2024.csv.manifest.json").write_text(json.dumps(manifest))
    return batch


def _ingest(sluice_home, tmp_path):
    from flows.ingest_files import ingest_files
    from flows.runners import dask_task_runner

    return ingest_files.with_options(task_runner=dask_task_runner(sluice_home))("orders", str(tmp_path / "src"))


def _last_run():
    with engine_for(get_settings().metadata_db_url()).connect() as conn:
        [run] = list_runs(conn, dataset="orders", limit=1)
        return get_run(conn, run.run_id)


def test_a_truncated_export_that_still_parses_fails_the_run_under_strict_and_lands_nothing(
    prefect_api, sluice_home, tmp_path, monkeypatch
):
    _policy(monkeypatch, tmp_path, "strict")
    _export(tmp_path, rows=900, stated=1_000)

    with pytest.raises(CompletenessError, match="the source says 1,000 rows, 900 were read"):
        _ingest(sluice_home, tmp_path)

    run = _last_run()
    assert run.status == "failed" and run.rows_written == 0
    [totals] = run.control_totals
    assert (totals.source_rows, totals.read_rows, totals.policy) == (1_000, 900, "strict")
    assert totals.origin.endswith("orders-2024.csv.manifest.json")


def test_the_same_export_lands_with_a_warning_under_warn(prefect_api, sluice_home, tmp_path, monkeypatch):
    _policy(monkeypatch, tmp_path, "warn")
    _export(tmp_path, rows=900, stated=1_000)

    report = _ingest(sluice_home, tmp_path)

    assert report.status == "completed" and report.rows_written == 900
    assert report.warnings["completeness:mismatch"] == 1
    assert lake_table("orders").num_rows == 900
    assert [(c.source_rows, c.read_rows) for c in _last_run().control_totals] == [(1_000, 900)]


def test_a_whole_export_whose_rows_and_sum_agree_lands_under_strict(prefect_api, sluice_home, tmp_path, monkeypatch):
    _policy(monkeypatch, tmp_path, "{policy: strict, sum: amount}")
    rows = good_orders(300)
    _export(tmp_path, rows=300, stated=300, amount_sum=sum(float(r.amount) for r in rows))

    report = _ingest(sluice_home, tmp_path)

    assert report.status == "completed" and report.rows_written == 300
    [totals] = report.control_totals
    assert totals.agrees and totals.column == "amount"
    assert "completeness:mismatch" not in report.warnings
