"""A lake table written before a column joined the lake schema gains it, and no value is hidden."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from deltalake import DeltaTable

from sluice.ingest import StageRequest, commit_files, commit_target, stage_file
from sluice.lake.table import lake_schema
from sluice.settings import Settings
from sluice.sources.files import list_source_files
from sluice.validate.chunk import PARTITION, WARNINGS_COL
from sluice.validate.contracts import find_contract
from tests.factories import OrderBatch, good_orders, write_csv


def test_a_table_without_the_warnings_column_gains_it_and_keeps_the_failed_text(tmp_path: Path) -> None:
    contract = find_contract("orders", Settings().contracts_root())
    old = lake_schema(contract)
    DeltaTable.create(
        str(tmp_path / "lake"), schema=old.remove(old.get_field_index(WARNINGS_COL)), partition_by=[PARTITION]
    )
    rows = good_orders(3)
    rows[1].discount = "abc"
    write_csv(tmp_path / "src" / "a.csv", OrderBatch(rows=rows))
    req = StageRequest(
        dataset="orders",
        contract=contract,
        run_id="r",
        run_dir=str(tmp_path / "staging"),
        lake_uri=str(tmp_path / "lake"),
        ingest_date=date(2024, 11, 1),
    )
    staged = stage_file(list_source_files(str(tmp_path / "src"))[0], 0, req)

    result = commit_files(commit_target(req, str(tmp_path / "q")), [staged], metadata={}).lake

    lake = DeltaTable(str(tmp_path / "lake")).to_pyarrow_table()
    assert result.rows_written == 3 and WARNINGS_COL in lake.column_names
    kept = [json.loads(v) for v in lake.column(WARNINGS_COL).to_pylist() if v]
    assert kept == [{"discount": "abc"}]
