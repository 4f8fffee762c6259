"""Nested JSON Lines through the ingest-files flow into the lake: struct fields as columns, arrays as list columns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from sluice.settings import get_settings
from tests.flows.helpers import lake_table, quarantine_table, run_ingest, sorted_rows

pytestmark = pytest.mark.integration

CONTRACT = """
name: customers_nested
owner: crm@sluice.example
freshness_sla: 1d
primary_key: [id]
partition: {column: signed_up}
columns:
  - {name: id, type: int64}
  - {name: signed_up, type: timestamp}
  - {name: address_city, type: string}
  - {name: zip, type: string, path: address.geo.zip, nullable: true}
  - {name: tags, type: list, items: string, nullable: true}
  - {name: scores, type: list, items: int64, nullable: true}
"""


def customer(i: int, **changes: Any) -> dict[str, Any]:
    record = {
        "id": i,
        "signed_up": "2024-03-05T10:00:00Z",
        "address": {"city": "Berlin", "geo": {"zip": f"1011{i}"}},
        "tags": ["new"],
        "scores": [i, i + 1],
    }
    return {**record, **changes}


def _write(path: Path, records: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


@pytest.fixture()
def nested_contract(sluice_home, monkeypatch):
    contracts = sluice_home.home / "contracts"
    contracts.mkdir(parents=True)
    (contracts / "customers_nested.yaml").write_text(CONTRACT)
    monkeypatch.setenv("SLUICE_CONTRACTS_DIR", str(contracts))
    get_settings(fresh=True)
    return "customers_nested"


def test_nested_json_lands_with_struct_fields_as_columns_and_arrays_as_lists(
    prefect_api, dask_address, nested_contract, tmp_path
):
    _write(
        tmp_path / "a" / "c-1.jsonl",
        [
            customer(1),
            customer(2, tags=[], scores=None, address={"city": "Ulm"}),
            customer(3, address={"city": {"name": "Bonn"}}),  # an object for a text column
            customer(4, tags=["a", 1]),  # mixed items
            customer(5, scores=["x"]),  # an item that is not an int64
        ],
    )

    report = run_ingest(dask_address, nested_contract, str(tmp_path / "a"))

    assert (report.rows_read, report.rows_written, report.rows_quarantined) == (5, 2, 3)
    lake = lake_table(nested_contract)
    assert lake.schema.field("tags").type == pa.list_(pa.string())
    assert lake.schema.field("scores").type == pa.list_(pa.int64())
    assert [{k: r[k] for k in ("id", "address_city", "zip", "tags", "scores")} for r in sorted_rows(lake, "id")] == [
        {"id": 1, "address_city": "Berlin", "zip": "10111", "tags": ["new"], "scores": [1, 2]},
        {"id": 2, "address_city": "Ulm", "zip": None, "tags": [], "scores": None},
    ]
    quarantine = sorted((e["source_row"], e["column"], e["reason"]) for e in quarantine_table().to_pylist())
    assert quarantine == [
        (3, "address_city", "wrong_shape"),
        (4, "tags", "wrong_shape"),
        (5, "scores", "unparseable_int"),
    ]

    _write(tmp_path / "b" / "c-2.jsonl", [customer(6, tags=["later"]), customer(1)])  # same day: merged into it
    again = run_ingest(dask_address, nested_contract, str(tmp_path / "b"))

    assert (again.rows_read, again.rows_written, again.rows_duplicate) == (2, 1, 1)
    rows = sorted_rows(lake_table(nested_contract), "id")
    assert [(r["id"], r["tags"]) for r in rows] == [(1, ["new"]), (2, []), (6, ["later"])]
