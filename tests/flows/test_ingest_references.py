"""Referential integrity on the real stack: orders arriving before their customers are held, then released."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable, write_deltalake

from sluice.lake import held
from sluice.lake.commit import CommitTarget
from sluice.lake.lease import hold_lease
from sluice.lake.table import open_table, table_uri
from sluice.runs.metastore import engine_for, list_runs
from sluice.settings import get_settings
from sluice.validate.contracts import find_contract
from tests.factories import OrderBatch, good_orders, write_csv
from tests.flows.helpers import lake_table, run_ingest

pytestmark = pytest.mark.integration

CONTRACTS = Path(__file__).parents[2] / "sluice" / "contracts"
CUSTOMER_HEADER = "customer_id,signup_date,full_name,email,country,segment,marketing_opt_in,lifetime_value,updated_at"


@pytest.fixture()
def hold_home(sluice_home, tmp_path, monkeypatch):
    """Shipped contracts, with orders holding orphans of customers for an hour."""
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    for name in ("customers.yaml", "glossary.yaml"):
        (contracts / name).write_text((CONTRACTS / name).read_text(encoding="utf-8"), encoding="utf-8")
    orders = (CONTRACTS / "orders.yaml").read_text(encoding="utf-8")
    assert "    policy: warn\n" in orders
    orders = orders.replace("    policy: warn\n", "    policy: hold\n    hold_timeout: 1h\n")
    (contracts / "orders.yaml").write_text(orders, encoding="utf-8")
    monkeypatch.setenv("SLUICE_CONTRACTS_DIR", str(contracts))
    yield get_settings(fresh=True)
    get_settings(fresh=True)


def _customers(path: Path, ids: list[int]) -> Path:
    lines = [CUSTOMER_HEADER] + [
        f"C{i:06d},2024-01-0{1 + i % 9},Ann Example,ann{i}@example.com,DE,consumer,true,10.5,2024-02-01T00:00:00Z"
        for i in ids
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _held_rows(dataset: str) -> int:
    table = open_table(held.held_uri(get_settings().lake_root(), dataset))
    return 0 if table is None else table.to_pyarrow_table().num_rows


def _orphans_quarantined() -> int:
    uri = get_settings().quarantine_root()
    if open_table(uri) is None:
        return 0
    table = DeltaTable(uri).to_pyarrow_table()
    return int(pc.sum(pc.equal(table.column("reason"), "orphan_reference")).as_py() or 0)


def _order_ids() -> list[int]:
    return sorted(lake_table("orders").column("order_id").to_pylist())


def _runs(dataset: str, flow: str) -> list:
    with engine_for(get_settings().metadata_db_url()).connect() as conn:
        return [r for r in list_runs(conn, dataset=dataset, limit=100) if r.flow == flow]


def test_orders_before_customers_are_held_then_released_when_the_parent_lands(
    prefect_api, dask_address, hold_home, tmp_path, monkeypatch
):
    write_csv(tmp_path / "orders" / "orders-1.csv", OrderBatch(rows=good_orders(10)))  # customers C000001-C000010

    first = run_ingest(dask_address, "orders", str(tmp_path / "orders"))

    assert (first.rows_read, first.rows_held, first.rows_written, first.rows_orphaned) == (10, 10, 0, 10)
    assert _held_rows("orders") == 10

    _customers(tmp_path / "customers" / "customers-1.csv", list(range(1, 7)))
    run_ingest(dask_address, "customers", str(tmp_path / "customers"))

    assert _order_ids() == [1, 2, 3, 4, 5, 6]
    assert _held_rows("orders") == 4
    (release,) = _runs("orders", "release-held")
    assert (release.source, release.rows_read, release.rows_written, release.rows_quarantined) == (
        "held:orders",
        6,
        6,
        0,
    )

    # A rerun of both changes nothing: their files are committed, no held row has a parent yet.
    run_ingest(dask_address, "customers", str(tmp_path / "customers"))
    run_ingest(dask_address, "orders", str(tmp_path / "orders"))
    assert _order_ids() == [1, 2, 3, 4, 5, 6]
    assert _held_rows("orders") == 4
    assert len(_runs("orders", "release-held")) == 1

    # Two hours on, the orders whose customers never came are quarantined by the next run of orders.
    later = datetime.now(timezone.utc) + timedelta(hours=2)
    monkeypatch.setattr(held, "utcnow", lambda: later)
    run_ingest(dask_address, "orders", str(tmp_path / "orders"))

    assert _held_rows("orders") == 0
    assert _orphans_quarantined() == 4
    assert _order_ids() == [1, 2, 3, 4, 5, 6]
    expired = [r for r in _runs("orders", "release-held") if r.rows_quarantined]
    assert [(r.rows_read, r.rows_written, r.rows_quarantined) for r in expired] == [(4, 0, 4)]

    run_ingest(dask_address, "orders", str(tmp_path / "orders"))
    run_ingest(dask_address, "customers", str(tmp_path / "customers"))
    assert (_held_rows("orders"), _orphans_quarantined(), _order_ids()) == (0, 4, [1, 2, 3, 4, 5, 6])


def test_two_releases_at_once_land_each_held_row_once(prefect_api, dask_address, hold_home, tmp_path):
    write_csv(tmp_path / "orders" / "orders-1.csv", OrderBatch(rows=good_orders(8)))
    run_ingest(dask_address, "orders", str(tmp_path / "orders"))
    assert _held_rows("orders") == 8
    settings = get_settings()
    root = settings.lake_root()
    # The customers land by another writer (no run of this repository releases them).
    keys = pa.table({"customer_id": [f"C{i:06d}" for i in range(1, 9)]})
    write_deltalake(table_uri(root, "customers"), keys)
    contract = find_contract("orders", settings.contracts_root())
    engine = engine_for(settings.metadata_db_url())
    results: list[object] = []

    def release(who: str) -> None:
        target = CommitTarget(
            dataset="orders",
            contract=contract,
            run_id=who,
            staging_dir=tmp_path / "staging" / who,
            lake_uri=table_uri(root, "orders"),
            quarantine_uri=settings.quarantine_root(),
        )
        parents = held.parent_keys(contract, lambda d: table_uri(root, d), {})
        with hold_lease(engine, "orders", who, ttl_s=30, wait_s=60) as lease:
            results.append(held.release_held(target, held.held_uri(root, "orders"), parents, lease=lease))

    threads = [threading.Thread(target=release, args=(f"writer-{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert _order_ids() == list(range(1, 9))
    assert _held_rows("orders") == 0
    assert sorted(r is None for r in results) == [False, True]


def test_a_release_marked_by_a_run_that_stopped_is_committed_once_by_the_next(
    prefect_api, dask_address, hold_home, tmp_path
):
    write_csv(tmp_path / "orders" / "orders-1.csv", OrderBatch(rows=good_orders(5)))
    run_ingest(dask_address, "orders", str(tmp_path / "orders"))
    settings = get_settings()
    root = settings.lake_root()
    write_deltalake(table_uri(root, "customers"), pa.table({"customer_id": [f"C{i:06d}" for i in range(1, 4)]}))
    contract = find_contract("orders", settings.contracts_root())
    parents = held.parent_keys(contract, lambda d: table_uri(root, d), {})
    uri = held.held_uri(root, "orders")
    target = CommitTarget(
        dataset="orders",
        contract=contract,
        run_id="next",
        staging_dir=tmp_path / "staging",
        lake_uri=table_uri(root, "orders"),
        quarantine_uri=settings.quarantine_root(),
    )
    # A run that marked its release and stopped before committing it.
    held._mark(uri, DeltaTable(uri), open_table(table_uri(root, "orders")), target, parents, held.utcnow())
    assert _order_ids_or_none() is None
    # Another customer lands meanwhile: its order is a release of its own, the marked one stays as it was.
    write_deltalake(table_uri(root, "customers"), pa.table({"customer_id": ["C000004"]}), mode="append")
    parents = held.parent_keys(contract, lambda d: table_uri(root, d), {})

    released = held.release_held(target, uri, parents)
    again = held.release_held(target, uri, parents)

    assert released is not None and sorted(b.rows_released for b in released.batches) == [1, 3]
    assert again is None
    assert _order_ids() == [1, 2, 3, 4] and _held_rows("orders") == 1


def _order_ids_or_none() -> list[int] | None:
    table = open_table(table_uri(get_settings().lake_root(), "orders"))
    return None if table is None or table.to_pyarrow_table().num_rows == 0 else _order_ids()
