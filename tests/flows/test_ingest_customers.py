"""The shipped customers contract is an upsert on updated_at: a later export updates, an older one changes nothing."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from demo.samples import CUSTOMERS, generate_customers
from tests.flows.helpers import lake_table, run_ingest

pytestmark = pytest.mark.integration


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.DictWriter(f, fieldnames=CUSTOMERS.columns)
        out.writeheader()
        out.writerows(rows)


def _with(row: dict[str, str], updated_at: str, segment: str) -> dict[str, str]:
    return {**row, "updated_at": updated_at, "segment": segment}


def test_a_later_export_updates_customers_and_an_older_one_changes_nothing(
    prefect_api, dask_address, sluice_home, tmp_path
):
    first = generate_customers(tmp_path / "export-1", rows=1_500, seed=5, bad_fraction=0, duplicate_fraction=0)
    report = run_ingest(dask_address, "customers", str(tmp_path / "export-1"))
    assert report.rows_written == first.rows_unique_valid == lake_table("customers").num_rows
    landed = {r["customer_id"]: r for r in lake_table("customers").to_pylist()}
    source = [r for r in _rows(Path(first.files[0])) if r["customer_id"] in landed]
    newer, older, same = source[:100], source[100:160], source[160:200]

    _write(
        tmp_path / "export-2" / "customers.csv",
        [_with(r, "2030-01-01T00:00:00Z", "vip") for r in newer]
        + [_with(r, "2000-01-01T00:00:00Z", "business") for r in older]
        + same,
    )
    report = run_ingest(dask_address, "customers", str(tmp_path / "export-2"))

    assert (report.rows_read, report.rows_written, report.rows_updated, report.rows_unchanged) == (200, 0, 100, 100)
    after = {r["customer_id"]: r for r in lake_table("customers").to_pylist()}
    assert len(after) == len(landed)
    assert {after[r["customer_id"]]["segment"] for r in newer} == {"vip"}
    for r in older + same:
        assert after[r["customer_id"]]["segment"] == landed[r["customer_id"]]["segment"]
        assert after[r["customer_id"]]["updated_at"] == landed[r["customer_id"]]["updated_at"]

    again = run_ingest(dask_address, "customers", str(tmp_path / "export-2"))
    assert again.rows_written == again.rows_updated == 0
    assert {r["customer_id"]: r for r in lake_table("customers").to_pylist()} == after
