"""Storing held rows: a source read again holds each orphan once, its newest version, from its first hold time."""

from __future__ import annotations

import dataclasses
import tempfile
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.errors import LakeError
from sluice.lake import held
from sluice.lake.held_store import HELD_AT, store_rows, with_hold_columns
from sluice.lake.lease import hold_lease
from sluice.lake.table import open_table, table_uri
from sluice.runs.metastore import engine_for
from sluice.validate.chunk import BATCH_COL, PARTITION, ROW_COL
from tests.factories import good_orders
from tests.ops.factories import sluice_home
from tests.sluice.lake.heldfixtures import (
    held_count,
    held_rows,
    hold_contracts,
    ingest_rows,
    land_customers,
    order_ids,
    orphans_quarantined,
    release_orders,
)


@pytest.fixture
def home(monkeypatch, tmp_path):
    return sluice_home(monkeypatch, tmp_path, contracts_dir=str(hold_contracts(tmp_path / "contracts")))


def test_a_source_read_again_holds_each_orphan_once_and_its_expiry_quarantines_it_once(home, tmp_path):
    orders = good_orders(4, start=1)
    assert ingest_rows(home, tmp_path / "src", orders, "run-a") == 4
    version = DeltaTable(held.held_uri(home.lake_root(), "orders")).version()
    first = held_rows(home)

    ingest_rows(home, tmp_path / "src", orders, "run-b")  # another file, the same rows: a snapshot read again
    ingest_rows(home, tmp_path / "src", orders[1:3], "run-c")  # a look-back over part of them

    again = held_rows(home)
    assert held_count(home) == 4
    assert DeltaTable(held.held_uri(home.lake_root(), "orders")).version() == version  # nothing rewritten
    assert again.column(BATCH_COL).equals(first.column(BATCH_COL))  # held by run-a's batch, which counts
    later = datetime.now(timezone.utc) + timedelta(hours=2)
    report = release_orders(home, "expire-1", now=later)
    assert report is not None and (report.rows_read, report.rows_quarantined) == (4, 4)
    assert release_orders(home, "expire-2", now=later) is None
    assert orphans_quarantined(home) == [f"C{i:06d}" for i in range(1, 5)] and held_count(home) == 0


def test_a_changed_row_read_again_replaces_the_pending_one_and_keeps_its_hold_time(home, tmp_path):
    orders = good_orders(3, start=1)
    ingest_rows(home, tmp_path / "src", orders, "run-a")
    held_at = held_rows(home).column(HELD_AT).to_pylist()
    changed = [dataclasses.replace(o, amount="77.25") if o.order_id == "2" else o for o in orders]

    ingest_rows(home, tmp_path / "src", changed, "run-b")

    rows = held_rows(home)
    assert rows.column("amount").to_pylist() == [1.5, 77.25, 3.5]
    assert rows.column(HELD_AT).to_pylist() == held_at
    land_customers(home, [1, 2, 3])
    report = release_orders(home, "release-1")
    assert report is not None and report.rows_written == 3 and held_count(home) == 0
    lake = DeltaTable(table_uri(home.lake_root(), "orders")).to_pyarrow_table().sort_by("order_id")
    assert lake.column("amount").to_pylist() == [1.5, 77.25, 3.5]


def test_two_runs_storing_the_same_orphans_at_once_hold_them_once(home, tmp_path):
    orders = good_orders(5, start=1)
    engine = engine_for(home.metadata_db_url())
    errors: list[BaseException] = []

    def run(run_id: str) -> None:
        try:
            with hold_lease(engine, "orders", run_id, ttl_s=30, wait_s=60):
                ingest_rows(home, tmp_path / "src", orders, run_id)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(f"run-{i}",)) for i in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()

    assert errors == [] and held_count(home) == 5
    land_customers(home, [1, 2, 3])
    later = datetime.now(timezone.utc) + timedelta(hours=2)
    report = release_orders(home, "release-1", now=later)
    assert report is not None and (report.rows_written, report.rows_quarantined) == (3, 2)
    assert order_ids(home) == [1, 2, 3] and orphans_quarantined(home) == ["C000004", "C000005"]
    assert release_orders(home, "release-2", now=later) is None and held_count(home) == 0


def test_rows_of_a_batch_that_never_committed_are_purged_once_stale_and_a_rerun_holds_them_again(home, tmp_path):
    ingest_rows(home, tmp_path / "src", good_orders(3, start=1), "run-a", commit=False)  # stopped before its commit
    ingest_rows(home, tmp_path / "src", good_orders(2, start=10), "run-b")

    assert release_orders(home, "expire-1", now=datetime.now(timezone.utc) + timedelta(hours=2)) is not None
    assert held_count(home) == 3 and orphans_quarantined(home) == ["C000010", "C000011"]  # run-a's wait

    stale = datetime.now(timezone.utc) + timedelta(hours=home.staging_stale_hours + 1)
    assert release_orders(home, "purge-1", now=stale) is None
    assert held_count(home) == 0 and orphans_quarantined(home) == ["C000010", "C000011"]
    assert release_orders(home, "purge-2", now=stale) is None

    ingest_rows(home, tmp_path / "src", good_orders(3, start=1), "run-a2", name="run-a")  # the same file, committed
    land_customers(home, [1, 2, 3])
    report = release_orders(home, "release-1")
    assert report is not None and report.rows_written == 3 and order_ids(home) == [1, 2, 3]


def test_rows_of_an_uncommitted_batch_wait_while_it_may_still_commit(home, tmp_path):
    ingest_rows(home, tmp_path / "src", good_orders(2, start=1), "run-a", commit=False)
    land_customers(home, [1, 2])

    assert release_orders(home, "release-1") is None  # its batch may commit yet: not released, not purged
    assert held_count(home) == 2 and order_ids(home) == []


def _versions(batches: list[list[tuple[int, int]]]) -> dict[int, int]:
    last: dict[int, int] = {}
    for batch in batches:
        for key, value in batch:
            last[key] = value
    return last


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    batches=st.lists(
        st.lists(st.tuples(st.integers(0, 6), st.integers(-3, 3)), min_size=0, max_size=8), min_size=1, max_size=4
    )
)
def test_any_sequence_of_reads_leaves_one_pending_row_per_key_with_its_newest_value(batches):
    with tempfile.TemporaryDirectory() as folder:
        uri = str(Path(folder) / held.HOLD_FOLDER / "things")
        first_held: dict[int, datetime] = {}
        for n, batch in enumerate(batches):
            rows = pa.table(
                {
                    "k": pa.array([k for k, _ in batch], pa.int64()),
                    "v": pa.array([v for _, v in batch], pa.int64()),
                    PARTITION: pa.array([datetime(2024, 1, 1).date()] * len(batch), pa.date32()),
                    BATCH_COL: pa.array([f"sluice-{n:032x}"] * len(batch), pa.string()),
                    ROW_COL: pa.array(range(1, len(batch) + 1), pa.int64()),
                }
            )
            stored = with_hold_columns(rows, run_id=f"run-{n}", source_file=f"f{n}")
            store_rows(uri, stored, ["k", PARTITION], {})
            at = stored.column(HELD_AT)[0].as_py() if len(batch) else None
            for k, _ in batch:
                first_held.setdefault(k, at)
        table = open_table(uri)
        got = {} if table is None else table.to_pyarrow_table()
        expected = _versions(batches)
        if not expected:
            assert table is None
            return
        assert isinstance(got, pa.Table)
        assert dict(zip(got.column("k").to_pylist(), got.column("v").to_pylist(), strict=True)) == expected
        assert got.num_rows == len(expected)
        assert dict(zip(got.column("k").to_pylist(), got.column(HELD_AT).to_pylist(), strict=True)) == first_held


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.text(min_size=1, max_size=60).filter(lambda t: not t.startswith("sluice-")))
def test_a_batch_id_written_by_hand_is_refused_before_any_purge(home, tmp_path, batch):
    uri = held.held_uri(home.lake_root(), "orders")
    if held_count(home) == 0:
        ingest_rows(home, tmp_path / "src", good_orders(2, start=1), "run-a", commit=False)
    rows = DeltaTable(uri).to_pyarrow_table()
    edited = rows.set_column(rows.schema.get_field_index(BATCH_COL), BATCH_COL, pa.array([batch, batch]))
    write_deltalake(uri, edited, mode="overwrite")
    version = DeltaTable(uri).version()
    stale = datetime.now(timezone.utc) + timedelta(hours=home.staging_stale_hours + 1)

    with pytest.raises(LakeError, match="is not a batch id"):
        release_orders(home, "purge-x", now=stale)

    assert DeltaTable(uri).version() == version and held_count(home) == 2
