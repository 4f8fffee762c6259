"""The contract's ``explode`` block: child contracts inline or by reference, every mistake named in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice.errors import ContractError
from sluice.validate.contracts import find_contract, parse_contract

PARENT = """
name: orders_x
owner: a@sluice.example
freshness_sla: 6h
primary_key: [order_id]
partition: {column: order_ts}
columns:
  - {name: order_id, type: int64}
  - {name: order_ts, type: timestamp}
  - {name: note, type: string, nullable: true}
explode:
  items:
    dataset: orders_x_items
    parent_key: [order_id]
    index_column: item_index
    carry: [order_ts]
    contract: CHILD
"""
CHILD = """
name: orders_x_items
owner: a@sluice.example
freshness_sla: 6h
primary_key: [order_id, item_index]
partition: {column: order_ts}
columns:
  - {name: order_id, type: int64}
  - {name: item_index, type: int64}
  - {name: order_ts, type: timestamp}
  - {name: sku, type: string}
"""


def _inline(child: str = CHILD, parent: str = PARENT) -> str:
    block = "\n".join("      " + line for line in child.strip().splitlines())
    return parent.replace("contract: CHILD", "contract:\n" + block)


def _files(tmp_path: Path, child: str = CHILD, parent: str = PARENT) -> Path:
    (tmp_path / "orders_x.yaml").write_text(parent.replace("contract: CHILD", "contract: orders_x_items"))
    (tmp_path / "orders_x_items.yaml").write_text(child)
    return tmp_path


def test_an_inline_child_contract_loads_with_the_columns_an_element_fills():
    spec = parse_contract(_inline()).explode["items"]

    assert spec.child.name == "orders_x_items"
    assert spec.from_parent == ["order_id", "order_ts"]
    assert spec.element_columns() == ["sku"]


def test_a_child_contract_named_by_reference_is_loaded_from_its_file_beside_the_parent(tmp_path):
    parent = find_contract("orders_x", _files(tmp_path))

    assert parent.explode["items"].child.column_names == ["order_id", "item_index", "order_ts", "sku"]


@pytest.mark.parametrize(
    ("child", "parent", "message"),
    [
        (
            CHILD.replace("  - {name: order_id, type: int64}\n", "", 1).replace(
                "[order_id, item_index]", "[item_index]"
            ),
            PARENT,
            "lacks the parent column 'order_id'",
        ),
        (CHILD.replace("{name: order_id, type: int64}", "{name: order_id, type: string}"), PARENT, "is string in"),
        (CHILD.replace("{name: item_index, type: int64}", "{name: item_index, type: float64}"), PARENT, "int64"),
        (CHILD.replace("[order_id, item_index]", "[item_index]"), PARENT, "primary_key must be"),
        (CHILD.replace("name: orders_x_items", "name: other"), PARENT, "not the dataset 'orders_x_items'"),
        (CHILD, PARENT.replace("carry: [order_ts]", "carry: [placed]"), "'placed' is not a column of orders_x"),
        (CHILD, PARENT.replace("dataset: orders_x_items", "dataset: orders_x"), "is the parent's"),
        (CHILD, PARENT.replace("  items:\n", "  note:\n"), "also a column of orders_x"),
        (CHILD, PARENT.replace("carry: [order_ts]", "value_column: order_id"), "value_column 'order_id'"),
        (CHILD, PARENT.replace("carry: [order_ts]", "carry: [order_ts]\n    parent_kye: [x]"), "did you mean"),
    ],
)
def test_a_wrong_explode_block_is_refused_with_what_is_wrong(child, parent, message):
    with pytest.raises(ContractError, match=message):
        parse_contract(_inline(child, parent))


def test_a_referenced_child_contract_is_checked_once_loaded(tmp_path):
    root = _files(tmp_path, child=CHILD.replace("[order_id, item_index]", "[item_index]"))

    with pytest.raises(
        ContractError, match=r"explode 'items' \(orders_x_items\): the child's primary_key must be"
    ) as caught:
        find_contract("orders_x", root)
    assert caught.value.hint and "explode" in caught.value.hint


def test_a_missing_child_contract_file_is_named(tmp_path):
    root = _files(tmp_path)
    (root / "orders_x_items.yaml").unlink()

    with pytest.raises(ContractError, match="no contract named 'orders_x_items'"):
        find_contract("orders_x", root)


def test_a_wrong_inline_child_contract_is_located_under_its_explode_key():
    child = CHILD.replace("{name: sku, type: string}", "{name: sku, type: strng}")

    with pytest.raises(ContractError, match=r"explode\.items\.contract.*columns\[sku\]\.type") as caught:
        parse_contract(_inline(child))
    assert "valid string" not in str(caught.value)


def test_an_upsert_parent_cannot_explode():
    text = _inline().replace(
        "columns:\n  - {name: order_id", "mode: upsert\norder_by: order_id\ncolumns:\n  - {name: order_id", 1
    )

    with pytest.raises(ContractError, match="explode applies to append-mode datasets"):
        parse_contract(text)


@pytest.mark.parametrize("source_format", ["parquet", "csv", "avro", "protobuf"])
def test_a_source_whose_arrays_cannot_be_exploded_is_refused_rather_than_losing_them(source_format):
    from sluice.validate.explode import ensure_explodable

    contract = parse_contract(_inline())

    with pytest.raises(ContractError, match=f"{source_format} sources are not exploded"):
        ensure_explodable(contract, source_format, "s3://drop/b.x")
    ensure_explodable(contract, "jsonl", "s3://drop/b.jsonl")
    ensure_explodable(contract, "json", "kafka:baskets")
    ensure_explodable(parse_contract(PARENT.split("explode:", maxsplit=1)[0]), source_format, "s3://drop/b.x")
