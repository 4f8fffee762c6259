"""An ingest-files run profiles the rows it committed into the metrics store; a rerun that commits nothing adds none."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ops.metrics.models import Selector
from ops.metrics.store import open_store
from sluice.settings import get_settings
from tests.factories import OrderBatch, good_orders, write_csv
from tests.flows.helpers import lake_table, run_ingest

pytestmark = pytest.mark.integration


def test_a_committed_run_writes_one_profile_point_per_column_stamped_at_its_finish(
    prefect_api, dask_address, sluice_home, tmp_path
):
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    write_csv(tmp_path / "drop" / "orders.csv", OrderBatch(rows=good_orders(40)))

    report = run_ingest(dask_address, "orders", str(tmp_path / "drop"))
    run_ingest(dask_address, "orders", str(tmp_path / "drop"))  # the same file again: skipped, nothing committed

    store, after = open_store(home=get_settings().home), datetime.now(timezone.utc)
    nulls = store.query_range(Selector.parse('sluice_column_null_rate{dataset="orders"}'), before, after)
    written = lake_table("orders")
    assert {s.labels["column"] for s in nulls} >= {"order_id", "amount", "customer_id"}
    assert all(len(s) == 1 and s.timestamps[0] == int(report.finished_at.timestamp() * 1e6) * 1000 for s in nulls)
    (amount,) = [s for s in nulls if s.labels["column"] == "amount"]
    assert amount.values[0] == written.column("amount").null_count / written.num_rows
    (drift,) = store.query_range(Selector.parse('sluice_schema_drift_columns{dataset="orders"}'), before, after)
    assert drift.values.tolist() == [0.0]
