"""Ingest commits carry each file's column statistics, so a filtered read skips the files it cannot match."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest
from deltalake import DeltaTable

from sluice.lake.table import table_uri
from sluice.settings import get_settings
from tests.factories import OrderBatch, good_orders, write_csv
from tests.flows.helpers import run_ingest

pytestmark = pytest.mark.integration


def test_each_ingested_file_has_bounds_that_match_its_rows_and_a_filter_reads_only_the_file_that_can_match(
    prefect_api, dask_address, sluice_home, tmp_path
):
    days = ("2024-03-05", "2024-04-20")
    for i, day in enumerate(days):
        write_csv(tmp_path / f"drop{i}" / "orders.csv", OrderBatch(rows=good_orders(30, start=1 + i * 100, day=day)))
        run_ingest(dask_address, "orders", str(tmp_path / f"drop{i}"))

    table = DeltaTable(table_uri(get_settings().lake_root(), "orders"))
    adds = pa.table(table.get_add_actions(flatten=True)).to_pylist()
    assert len(adds) == 2
    data = table.to_pyarrow_dataset()
    for add in adds:
        rows = ds.dataset(f"{table.table_uri.rstrip('/')}/{add['path']}", format="parquet").to_table()
        assert add["num_records"] == rows.num_rows == 30
        for name in ("order_ts", "amount", "quantity", "customer_id"):
            low, high = pc.min_max(rows.column(name)).values()
            assert (add[f"min.{name}"], add[f"max.{name}"]) == (low.as_py(), high.as_py()), name
            assert add[f"null_count.{name}"] == rows.column(name).null_count
    later = pc.field("order_ts") >= pa.scalar(dt.datetime(2024, 4, 1, tzinfo=dt.timezone.utc))
    assert len(list(data.get_fragments())) == 2
    assert len(list(data.get_fragments(filter=later))) == 1
    assert data.to_table(filter=later).num_rows == 30
