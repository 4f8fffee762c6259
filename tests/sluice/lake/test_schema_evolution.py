"""A compatible contract change evolves the lake table: added columns appear, removed ones stay, rows are intact."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import yaml
from deltalake import DeltaTable

from sluice.ingest import StageRequest, commit_files, commit_target, stage_file
from sluice.lake.apply import apply_batches
from sluice.lake.commit import CommitOutcome
from sluice.lake.table import lake_schema
from sluice.lake.write import evolve_schema
from sluice.settings import Settings
from sluice.sources.files import list_source_files
from sluice.validate.contracts import Contract, find_contract, parse_contract
from sluice.validate.evolution import diff_contracts
from tests.factories import ORDER_HEADER, OrderBatch, good_orders, write_csv
from tests.sluice.lake.keyed import Change, contract, rows


def _orders() -> Contract:
    return find_contract("orders", Settings().contracts_root())


def _changed(base: Contract, *, add: tuple[dict[str, object], ...] = (), drop: tuple[str, ...] = ()) -> Contract:
    raw = base.model_dump(mode="json")
    raw["columns"] = [c for c in raw["columns"] if c["name"] not in drop] + list(add)
    raw["version"] = base.version + 1
    raw["freshness_sla"] = "6h"
    return parse_contract(yaml.safe_dump(raw))


def _ingest(tmp_path: Path, run: str, c: Contract, csv_text: str) -> CommitOutcome:
    src = tmp_path / f"src-{run}" / "orders.csv"
    src.parent.mkdir(parents=True)
    src.write_text(csv_text, encoding="utf-8")
    req = StageRequest(
        dataset="orders",
        contract=c,
        run_id=run,
        run_dir=str(tmp_path / f"staging-{run}"),
        lake_uri=str(tmp_path / "lake"),
        ingest_date=date(2024, 11, 1),
    )
    staged = stage_file(list_source_files(str(src.parent))[0], 0, req)
    outcome = commit_files(commit_target(req, str(tmp_path / "q")), [staged], metadata={})
    assert outcome.quarantined == 0
    return outcome


def _csv(header: list[str], lines: list[list[str]]) -> str:
    return "\n".join(",".join(cells) for cells in [header, *lines]) + "\n"


def _by_id(uri: Path) -> dict[int, dict[str, object]]:
    return {r["order_id"]: r for r in DeltaTable(str(uri)).to_pyarrow_table().to_pylist()}


def test_an_added_optional_column_becomes_a_lake_column_and_older_rows_read_null(tmp_path: Path) -> None:
    v1 = _orders()
    added = (
        {"name": "coupon", "type": "string", "nullable": True, "criticality": "warning"},
        {"name": "points", "type": "int64", "nullable": True, "criticality": "warning"},
    )
    v2 = _changed(v1, add=added)
    assert diff_contracts(v1, v2).ok  # adding optional columns keeps BACKWARD
    write_csv(tmp_path / "v1.csv", OrderBatch(rows=good_orders(2, start=1)))
    _ingest(tmp_path, "r1", v1, (tmp_path / "v1.csv").read_text())
    newer = [
        [*r.cells(), "SPRING", "40"] for r in [*good_orders(1, start=3), *good_orders(1, start=4, day="2024-03-06")]
    ]

    _ingest(tmp_path, "r2", v2, _csv([*ORDER_HEADER, "coupon", "points"], newer))

    table = DeltaTable(str(tmp_path / "lake"))
    schema = table.schema().to_arrow()
    assert (pa.field("coupon", pa.string()), pa.field("points", pa.int64())) == tuple(
        pa.field(n, pa.schema(schema).field(n).type) for n in ("coupon", "points")
    )
    lake = _by_id(tmp_path / "lake")
    assert sorted(lake) == [1, 2, 3, 4]
    assert [(lake[i]["coupon"], lake[i]["points"]) for i in (1, 2)] == [(None, None)] * 2
    assert [(lake[i]["coupon"], lake[i]["points"]) for i in (3, 4)] == [("SPRING", 40)] * 2  # old and new dates


def test_a_removed_column_stays_in_the_lake_with_its_older_values_and_newer_rows_null(tmp_path: Path) -> None:
    v1 = _orders()
    v2 = _changed(v1, drop=("email",))
    assert diff_contracts(v1, v2).ok  # email is optional: removing it keeps FULL
    write_csv(tmp_path / "v1.csv", OrderBatch(rows=good_orders(1, start=1)))
    _ingest(tmp_path, "r1", v1, (tmp_path / "v1.csv").read_text())
    header = [h for h in ORDER_HEADER if h != "email"]
    rows_v2 = [[getattr(r, h) for h in header] for r in good_orders(1, start=2)]

    _ingest(tmp_path, "r2", v2, _csv(header, rows_v2))

    lake = _by_id(tmp_path / "lake")
    assert (lake[1]["email"], lake[2]["email"]) == ("ann@example.com", None)
    assert "email" in DeltaTable(str(tmp_path / "lake")).schema().to_arrow().names


def test_a_keyed_table_gains_an_added_column_and_its_untouched_keys_read_null(tmp_path: Path) -> None:
    uri = str(tmp_path / "people")
    v1 = contract("upsert")
    apply_batches(
        uri,
        v1,
        rows([Change(1, 1, "i", "a"), Change(2, 1, "i", "b")], v1, "b1"),
        batch_ids=["b1"],
        version=None,
        metadata={},
    )
    raw = v1.model_dump(mode="json") | {"version": 2, "freshness_sla": "1d"}
    raw["columns"].append({"name": "score", "type": "float64", "nullable": True})
    v2 = parse_contract(yaml.safe_dump(raw))
    incoming = rows([Change(2, 2, "u", "c")], v2, "b2")
    incoming = incoming.append_column("score", pa.array([0.5]))

    assert evolve_schema(uri, lake_schema(v2)) == ["score"]
    apply_batches(uri, v2, incoming, batch_ids=["b2"], version=DeltaTable(uri).version(), metadata={})

    got = {r["id"]: (r["v"], r["score"]) for r in DeltaTable(uri).to_pyarrow_table().to_pylist()}
    assert got == {1: ("a", None), 2: ("c", 0.5)}


def test_a_new_column_holding_untagged_emails_is_reported_by_the_run_that_added_it(tmp_path: Path) -> None:
    v1 = _orders()
    v2 = _changed(
        v1,
        add=(
            {"name": "backup_contact", "type": "string", "nullable": True, "criticality": "warning"},
            {"name": "gift_email", "type": "string", "nullable": True, "criticality": "warning", "pii": "email"},
        ),
    )
    write_csv(tmp_path / "v1.csv", OrderBatch(rows=good_orders(2, start=1)))
    first = _ingest(tmp_path, "r1", v1, (tmp_path / "v1.csv").read_text())
    newer = [
        [*r.cells(), f"someone{i}@example.org", f"gift{i}@example.com"] for i, r in enumerate(good_orders(20, start=3))
    ]

    second = _ingest(tmp_path, "r2", v2, _csv([*ORDER_HEADER, "backup_contact", "gift_email"], newer))
    third = _ingest(
        tmp_path,
        "r3",
        v2,
        _csv(
            [*ORDER_HEADER, "backup_contact", "gift_email"],
            [[*r.cells(), "x@example.org", "y@example.com"] for r in good_orders(1, start=40)],
        ),
    )

    assert first.lake.pii_warnings == {}
    assert second.lake.pii_warnings == {"backup_contact:pii missing tag email": 20}  # the tagged one agrees
    assert third.lake.pii_warnings == {}  # the columns are there now: nothing added, nothing scanned
