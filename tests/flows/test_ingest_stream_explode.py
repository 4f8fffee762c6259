"""The ingest-stream flow explodes a JSON message's array into its child dataset, with a run record of its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis
from deltalake import DeltaTable

from flows.ingest_stream import ingest_stream
from sluice.lake.table import table_uri
from sluice.runs.metastore import engine_for, list_runs
from sluice.settings import get_settings
from tests.factories import CARTS_CONTRACT as CONTRACT
from tests.sluice.sources.streams.brokers import produce_redis
from tests.sluice.sources.streams.conftest import REDIS_URL, redis_stream  # noqa: F401

pytestmark = pytest.mark.integration


def cart(i: int, items: object) -> bytes:
    return json.dumps({"cart_id": i, "at": "2024-03-05T10:00:00Z", "items": items}).encode()


def test_a_stream_run_lands_parents_and_children_and_records_a_run_for_each(
    prefect_api, sluice_home, tmp_path, monkeypatch, redis_stream: tuple[redis.Redis, str]
) -> None:
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    (contracts / "carts.yaml").write_text(CONTRACT, encoding="utf-8")
    monkeypatch.setenv("SLUICE_CONTRACTS_DIR", str(contracts))
    get_settings(fresh=True)
    client, stream = redis_stream
    values = [cart(i, [{"sku": f"S{i}-{k}", "qty": k + 1} for k in range(i % 3)]) for i in range(30)]
    produce_redis(client, stream, [*values, cart(30, [{"sku": "x", "qty": 0}]), cart(31, "not an array")])
    args = {"dataset": "carts", "broker": "redis", "topic": stream, "address": REDIS_URL, "idle_seconds": 1.0}

    report = ingest_stream(**args, max_records=7)

    assert (report.rows_read, report.rows_written, report.rows_quarantined) == (32, 31, 1)
    lake = Path(get_settings().lake_root())
    items = DeltaTable(table_uri(str(lake), "cart_items")).to_pyarrow_table().to_pylist()
    assert sorted((r["cart_id"], r["pos"], r["sku"]) for r in items) == sorted(
        (i, k, f"S{i}-{k}") for i in range(30) for k in range(i % 3)
    )
    with engine_for(get_settings().metadata_db_url()).connect() as conn:
        (child,) = list_runs(conn, dataset="cart_items")
    assert child.run_id == f"{report.run_id}.1"
    assert (child.rows_read, child.rows_written, child.rows_quarantined) == (31, 30, 1)
