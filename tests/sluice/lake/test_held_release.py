"""Releases of held rows: only the hold files holding released rows are rewritten, each row lands once."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.errors import LakeError
from sluice.lake import held
from sluice.lake.lease import hold_lease
from sluice.runs.metastore import engine_for
from tests.ops.factories import sluice_home
from tests.sluice.lake.heldfixtures import (
    held_count,
    held_files,
    hold_contracts,
    ingest_held,
    land_customers,
    order_ids,
    release_orders,
)


@pytest.fixture
def home(monkeypatch, tmp_path):
    return sluice_home(monkeypatch, tmp_path, contracts_dir=str(hold_contracts(tmp_path / "contracts")))


def test_a_release_rewrites_only_the_hold_files_holding_the_rows_it_takes(home, tmp_path):
    assert ingest_held(home, tmp_path / "src", 1, 4, "run-a") == 4
    assert ingest_held(home, tmp_path / "src", 5, 4, "run-b") == 4
    before = held_files(home)
    land_customers(home, [1, 2, 3, 4])

    report = release_orders(home, "release-1")

    assert report is not None and (report.rows_read, report.rows_written, report.rows_quarantined) == (4, 4, 0)
    assert order_ids(home) == [1, 2, 3, 4] and held_count(home) == 4
    untouched = before & held_files(home)
    assert len(before) == 2 and len(untouched) == 1  # run-b's file stayed as it was
    assert release_orders(home, "release-2") is None


def test_an_expiry_quarantines_each_row_once_however_often_it_is_asked(home, tmp_path):
    ingest_held(home, tmp_path / "src", 1, 3, "run-a")
    later = datetime.now(timezone.utc) + timedelta(hours=2)

    first = release_orders(home, "expire-1", now=later)
    again = release_orders(home, "expire-2", now=later)

    assert first is not None and (first.rows_read, first.rows_written, first.rows_quarantined) == (3, 0, 3)
    assert again is None and held_count(home) == 0 and order_ids(home) == []


def _store_under_lease(settings, source, first: int, count: int, run_id: str) -> None:
    """An ingestion's store and commit, under the dataset's lease as the flows hold it."""
    engine = engine_for(settings.metadata_db_url())
    with hold_lease(engine, "orders", run_id, ttl_s=30, wait_s=60):
        ingest_held(settings, source, first, count, run_id)


def test_releases_racing_each_other_and_a_store_land_every_row_once(home, tmp_path):
    ingest_held(home, tmp_path / "src", 1, 6, "run-a")
    land_customers(home, [1, 2, 3, 4, 5, 6])
    errors: list[BaseException] = []

    def guarded(fn, *args) -> None:
        try:
            fn(*args)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    workers = [threading.Thread(target=guarded, args=(release_orders, home, f"release-{i}")) for i in range(3)]
    workers.append(threading.Thread(target=guarded, args=(_store_under_lease, home, tmp_path / "src", 7, 6, "run-b")))
    for w in workers:
        w.start()
    for w in workers:
        w.join()

    assert errors == []
    assert order_ids(home) == [1, 2, 3, 4, 5, 6] and held_count(home) == 6  # run-b's orders wait for theirs
    land_customers(home, [7, 8, 9, 10, 11, 12])
    release_orders(home, "release-3")
    release_orders(home, "release-4")
    assert order_ids(home) == list(range(1, 13)) and held_count(home) == 0


def test_a_marked_release_is_finished_by_the_next_release_exactly_once(home, tmp_path, monkeypatch):
    ingest_held(home, tmp_path / "src", 1, 4, "run-a")
    land_customers(home, [1, 2])
    calls = {"n": 0}
    real = held.commit_batches

    def stop_once(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("the process stopped after marking its release")
        return real(*args, **kwargs)

    monkeypatch.setattr(held, "commit_batches", stop_once)
    with pytest.raises(RuntimeError):
        release_orders(home, "release-1")
    assert order_ids(home) == [] and held_count(home) == 4

    report = release_orders(home, "release-2")
    assert report is not None and report.rows_written == 2
    assert order_ids(home) == [1, 2] and held_count(home) == 2
    assert release_orders(home, "release-3") is None


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mark=st.text(min_size=1, max_size=60).filter(lambda t: not t.startswith("release-")))
def test_a_hold_table_marked_by_hand_is_refused_before_anything_is_committed(home, tmp_path, mark):
    uri = held.held_uri(home.lake_root(), "orders")
    if held_count(home) == 0:
        ingest_held(home, tmp_path / "src", 1, 2, "run-a")
    rows = DeltaTable(uri).to_pyarrow_table()
    marked = rows.set_column(rows.schema.get_field_index(held.RELEASE), held.RELEASE, pa.array([mark, None]))
    write_deltalake(uri, marked, mode="overwrite")
    version = DeltaTable(uri).version()

    with pytest.raises(LakeError, match="is not a release id"):
        release_orders(home, "release-x")

    assert order_ids(home) == [] and DeltaTable(uri).version() == version
