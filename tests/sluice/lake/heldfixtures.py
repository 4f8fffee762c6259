"""Orders held for their customers, staged and committed as an ingestion does, without Prefect."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from sluice.ingest import StageRequest, commit_files, commit_target, stage_file
from sluice.lake.held import held_uri, store_held
from sluice.lake.table import open_table, table_uri
from sluice.settings import Settings
from sluice.sources.files import list_source_files
from sluice.validate.contracts import find_contract
from tests.factories import OrderBatch, OrderRow, good_orders, write_csv
from tests.sluice.replay_worker import own_contracts


def hold_contracts(folder: Path) -> Path:
    """The shipped contracts, with orders holding orphans of customers for an hour."""
    own_contracts(folder)
    path = folder / "orders.yaml"
    text = path.read_text(encoding="utf-8")
    assert "    policy: warn\n" in text
    path.write_text(text.replace("    policy: warn\n", "    policy: hold\n    hold_timeout: 1h\n"), encoding="utf-8")
    return folder


def ingest_held(settings: Settings, source: Path, first: int, count: int, run_id: str) -> int:
    """Orders ``first``.. (customer C<order id>) staged, their held rows stored, then committed; rows held."""
    return ingest_rows(settings, source, good_orders(count, start=first), run_id)


def ingest_rows(
    settings: Settings, source: Path, rows: list[OrderRow], run_id: str, *, commit: bool = True, name: str = ""
) -> int:
    """``rows`` in a file ``name`` (default: the run id) staged, held rows stored, then committed unless told not to.

    ``commit=False`` is a run that stopped between storing its held rows and its lake commit.
    """
    path = write_csv(source / f"{name or run_id}.csv", OrderBatch(rows=rows))
    root = settings.lake_root()
    req = StageRequest(
        dataset="orders",
        contract=find_contract("orders", settings.contracts_root()),
        run_id=run_id,
        run_dir=str(settings.staging_root() / run_id),
        lake_uri=table_uri(root, "orders"),
        ingest_date=date(2024, 11, 1),
        chunk_rows=1_000,
        reference_uris={"customers": table_uri(root, "customers")},
    )
    outcomes = [stage_file(src, i, req) for i, src in enumerate(list_source_files(str(path)))]
    store_held(held_uri(root, "orders"), req.run_place(), [o.batch_id for o in outcomes], {}, contract=req.contract)
    if not commit:
        return sum(o.rows_held for o in outcomes)
    commit_files(commit_target(req, settings.quarantine_root()), outcomes, metadata={"run_id": run_id})
    return sum(o.rows_held for o in outcomes)


def land_customers(settings: Settings, ids: list[int]) -> None:
    """Customers land by another writer: the parent's lake table is all a reference reads."""
    keys = pa.table({"customer_id": [f"C{i:06d}" for i in ids]})
    write_deltalake(table_uri(settings.lake_root(), "customers"), keys, mode="append")


def order_ids(settings: Settings) -> list[int]:
    table = open_table(table_uri(settings.lake_root(), "orders"))
    return [] if table is None else sorted(table.to_pyarrow_table(columns=["order_id"]).column("order_id").to_pylist())


def held_files(settings: Settings) -> set[str]:
    return set(DeltaTable(held_uri(settings.lake_root(), "orders")).file_uris())


def held_count(settings: Settings) -> int:
    table = open_table(held_uri(settings.lake_root(), "orders"))
    return 0 if table is None else table.to_pyarrow_table().num_rows


def held_rows(settings: Settings) -> pa.Table:
    """The hold table of orders, in order id order (empty: no table)."""
    table = open_table(held_uri(settings.lake_root(), "orders"))
    return pa.table({}) if table is None else table.to_pyarrow_table().sort_by("order_id")


def orphans_quarantined(settings: Settings) -> list[str]:
    """The source values (order ids' customers) of the orders quarantined as ``orphan_reference``, sorted."""
    table = open_table(settings.quarantine_root())
    if table is None:
        return []
    rows = table.to_pyarrow_table(columns=["reason", "value"])
    return sorted(
        v
        for r, v in zip(rows.column("reason").to_pylist(), rows.column("value").to_pylist(), strict=True)
        if r == "orphan_reference"
    )


def release_orders(settings, who: str, now=None):
    """One release of the orders' held rows, as run ``who`` (its staging folder under the staging root)."""
    from datetime import datetime, timezone

    from sluice.ingest_held import release_dataset
    from sluice.runs.records import RunReport
    from sluice.validate.contracts import find_contract

    base = RunReport(who, "orders", "test", settings.env, datetime.now(timezone.utc))
    contract = find_contract("orders", settings.contracts_root())
    return release_dataset(settings, base, contract, settings.staging_root() / who, now=now)
