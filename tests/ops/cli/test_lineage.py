"""``ops lineage impact``: everything downstream of a dataset or a column, from contracts, run records and
deployments."""

from __future__ import annotations

import json
from pathlib import Path

from sluice.lake.table import table_uri
from sluice.settings import Settings
from tests.ops.factories import invoke, run_report, save_runs, sluice_home


def write_contract(root: Path, name: str, columns: dict[str, str | None], *, downstream: tuple[str, ...] = ()) -> None:
    """A contract of string columns (name: the source field it is read from, None: its own name) plus ``day``."""
    lines = [
        f"name: {name}",
        f"owner: {name}-team@sluice.example",
        "freshness_sla: 1d",
        "primary_key: [id]",
        "partition:",
        "  column: day",
        "columns:",
        "  - {name: id, type: string}",
        "  - {name: day, type: date}",
    ]
    for column, path in columns.items():
        lines.append(f"  - {{name: {column}, type: string" + (f", path: {path}}}" if path else "}"))
    if downstream:
        lines.append(f"downstream: [{', '.join(downstream)}]")
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{name}.yaml").write_text("\n".join(lines) + "\n")


def three_levels(monkeypatch, tmp_path: Path) -> Settings:
    """raw_orders -> orders -> order_stats -> finance_mart (declared), and the branch raw_orders -> customers;
    web_events stands apart."""
    contracts = tmp_path / "contracts"
    settings = sluice_home(monkeypatch, tmp_path, contracts_dir=str(contracts))
    write_contract(contracts, "raw_orders", {"amount": None, "email": None})
    write_contract(contracts, "orders", {"amount": None, "status": None})
    write_contract(contracts, "order_stats", {"total_amount": "amount"}, downstream=("finance_mart",))
    write_contract(contracts, "customers", {"email_address": "email"})
    write_contract(contracts, "web_events", {"url": None})
    lake = settings.lake_root()

    def read(run_id: str, dataset: str, source: str):  # type: ignore[no-untyped-def]
        report = run_report(run_id, dataset=dataset)
        report.source = source
        return report

    save_runs(
        settings,
        read("r1", "raw_orders", "s3://drop/orders"),
        read("r2", "orders", table_uri(lake, "raw_orders")),
        read("r3", "orders", table_uri(lake, "raw_orders")),  # a second run adds no second edge
        read("r4", "order_stats", table_uri(lake, "orders") + "/"),
        read("r5", "customers", table_uri(lake, "raw_orders") + "/day=2026-03-05"),
        read("r6", "web_events", table_uri(lake, "raw_orders_v2")),  # a sibling prefix is no edge
    )
    return settings


def test_impact_finds_every_downstream_dataset_of_a_three_level_graph(monkeypatch, tmp_path):
    three_levels(monkeypatch, tmp_path)

    result = invoke("lineage", "impact", "raw_orders", "-o", "json")

    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["dataset"] == "raw_orders" and found["column"] is None
    rows = {d["dataset"]: d for d in found["downstream"]}
    assert list(rows) == ["customers", "orders", "order_stats", "finance_mart"]
    assert rows["order_stats"]["path"] == ["raw_orders", "orders", "order_stats"]
    assert (rows["finance_mart"]["depth"], rows["finance_mart"]["via"]) == (3, "contract")
    assert rows["finance_mart"]["owner"] == ""  # declared, without a contract of its own
    assert rows["orders"]["owner"] == "orders-team@sluice.example" and rows["orders"]["via"] == "runs"
    assert "ingest-files/orders-dev" in rows["orders"]["deployments"]  # prefect.yaml
    assert "ingest-files/customers-dev" in rows["customers"]["deployments"]


def test_impact_of_a_middle_dataset_lists_only_what_is_below_it(monkeypatch, tmp_path):
    three_levels(monkeypatch, tmp_path)

    result = invoke("lineage", "impact", "orders", "-o", "json")

    assert [d["dataset"] for d in json.loads(result.stdout)["downstream"]] == ["order_stats", "finance_mart"]


def test_impact_of_a_column_follows_the_columns_read_from_it(monkeypatch, tmp_path):
    three_levels(monkeypatch, tmp_path)

    result = invoke("lineage", "impact", "raw_orders.amount", "-o", "json")

    rows = {d["dataset"]: d["columns"] for d in json.loads(result.stdout)["downstream"]}
    assert rows == {"orders": ["amount"], "order_stats": ["total_amount"], "finance_mart": None}
    email = invoke("lineage", "impact", "raw_orders.email", "-o", "json")
    assert {d["dataset"]: d["columns"] for d in json.loads(email.stdout)["downstream"]} == {
        "customers": ["email_address"]
    }


def test_the_tree_places_each_downstream_dataset_under_its_feeder_within_80_columns(monkeypatch, tmp_path):
    three_levels(monkeypatch, tmp_path)

    result = invoke("lineage", "impact", "raw_orders")

    assert result.exit_code == 0
    for name in ("customers", "order_stats", "finance_mart", "orders-team@sluice.example"):
        assert name in result.stdout
    assert "4 downstream of raw_orders" in result.stdout
    lines = result.stdout.splitlines()
    depth = {name: next(ln.index(name) for ln in lines if name in ln) for name in ("orders", "order_stats")}
    assert depth["order_stats"] > depth["orders"]  # nested under the dataset it is fed by
    assert max(len(line) for line in result.stdout.splitlines()) <= 80


def test_a_dataset_with_nothing_downstream_says_so(monkeypatch, tmp_path):
    three_levels(monkeypatch, tmp_path)

    result = invoke("lineage", "impact", "web_events")

    assert result.exit_code == 0
    assert "nothing downstream of web_events" in result.stdout


def test_an_unknown_dataset_or_column_is_an_error_with_a_hint(monkeypatch, tmp_path):
    three_levels(monkeypatch, tmp_path)

    unknown = invoke("lineage", "impact", "refunds")
    no_column = invoke("lineage", "impact", "orders.price")

    assert unknown.exit_code == 1 and "no dataset named 'refunds'" in unknown.output
    assert "known datasets:" in unknown.output
    assert no_column.exit_code == 1 and "no column 'price'" in no_column.output
    assert "amount, status" in no_column.output
