"""Contract changes: versions, the declared level, and the changes the lake takes at no level."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from sluice.errors import ContractError
from sluice.settings import Settings
from sluice.validate.compat import Compatibility
from sluice.validate.contracts import Contract, available_contracts, find_contract, parse_contract
from sluice.validate.evolution import column_field, diff_contracts

BASE = """
name: items
owner: team@sluice.example
freshness_sla: 1d
primary_key: [id]
partition: {column: ts}
columns:
  - {name: id, type: int64}
  - {name: ts, type: timestamp}
  - {name: amount, type: int64, min: 0}
  - {name: note, type: string, nullable: true, criticality: warning}
"""
TAG = {"name": "tag", "type": "string", "nullable": True, "criticality": "warning"}
AMOUNT_TEXT = {"name": "amount", "type": "string", "nullable": True, "criticality": "warning"}


def items(**changes: Any) -> Contract:
    """The base contract with top-level fields replaced; ``add``/``drop``/``alter`` edit columns."""
    raw = yaml.safe_load(BASE)
    add, drop, alter = changes.pop("add", []), changes.pop("drop", []), changes.pop("alter", {})
    raw["columns"] = [{**c, **alter.get(c["name"], {})} for c in raw["columns"] if c["name"] not in drop] + add
    raw.update(changes)
    return parse_contract(yaml.safe_dump(raw))


def test_a_contract_without_a_version_is_version_1_and_backward() -> None:
    contract = items()
    assert (contract.version, contract.compatibility, contract.removed_columns.value) == (1, "BACKWARD", "keep")


def test_the_shipped_contracts_load_with_a_version_and_a_level() -> None:
    root = Settings().contracts_root()
    for name in available_contracts(root):
        contract = find_contract(name, root)
        assert contract.version >= 1 and contract.compatibility in Compatibility


def test_a_level_is_read_in_any_case_and_an_unknown_one_is_refused() -> None:
    assert items(compatibility="full_transitive").compatibility is Compatibility.FULL_TRANSITIVE
    with pytest.raises(ContractError, match="compatibility"):
        items(compatibility="SIDEWAYS")
    with pytest.raises(ContractError, match="version"):
        items(version=0)


def test_a_warning_column_is_a_field_that_is_not_enforced() -> None:
    fields = {c.name: column_field(c) for c in items().columns}
    assert fields["note"].enforced is False and fields["amount"].enforced is True
    assert (fields["amount"].type.value, fields["amount"].minimum) == ("long", 0)


def test_an_optional_column_added_with_a_new_version_keeps_backward() -> None:
    diff = diff_contracts(items(), items(version=2, add=[TAG]))
    assert diff.ok and diff.level == "FULL" and diff.problems == []


def test_a_nullable_critical_column_added_breaks_backward_as_files_without_it_are_quarantined() -> None:
    diff = diff_contracts(items(), items(version=2, add=[{"name": "tag", "type": "string", "nullable": True}]))
    assert diff.level == "FORWARD" and not diff.ok


def test_a_required_column_added_breaks_backward_but_not_forward() -> None:
    new = {"name": "tag", "type": "string"}
    assert not diff_contracts(items(), items(version=2, add=[new])).ok
    assert diff_contracts(items(), items(version=2, compatibility="FORWARD", add=[new])).ok


def test_a_schema_change_that_keeps_its_version_fails() -> None:
    diff = diff_contracts(items(), items(add=[TAG]))
    assert not diff.ok and diff.problems == ["the schema changed but version is still 1: raise it"]


def test_a_version_that_goes_down_fails_and_a_description_needs_no_new_version() -> None:
    assert diff_contracts(items(version=3), items(version=2)).problems == ["version went down from 3 to 2"]
    diff = diff_contracts(items(), items(description="now described", owner="x@sluice.example"))
    assert diff.ok and set(diff.other) == {"owner", "description"}


@pytest.mark.parametrize(
    ("change", "what"),
    [
        ({"primary_key": ["id", "ts"]}, "primary_key"),
        ({"partition": {"column": "ts", "granularity": "day"}, "mode": "upsert", "order_by": "ts"}, "mode"),
        ({"alter": {"amount": {"type": "float64"}}}, "type"),
    ],
)
def test_key_layout_and_type_changes_break_the_lake_even_at_none(change: dict[str, Any], what: str) -> None:
    diff = diff_contracts(items(), items(version=2, compatibility="NONE", **change))
    assert not diff.ok and what in [b.what for b in diff.lake]


def test_a_widened_type_keeps_backward_yet_the_lake_refuses_it() -> None:
    diff = diff_contracts(items(), items(version=2, alter={"amount": {"type": "float64"}}))
    assert diff.level == "BACKWARD" and diff.breaches == ()
    assert [b.what for b in diff.lake] == ["type"]


def test_a_removed_column_follows_the_contracts_policy() -> None:
    kept = diff_contracts(items(), items(version=2, drop=["note"]))
    refused = diff_contracts(items(), items(version=2, drop=["note"], removed_columns="refuse"))
    assert kept.ok and kept.level == "FULL"
    assert not refused.ok and [(b.field, b.what) for b in refused.lake] == [("note", "removed")]


def test_a_rename_is_a_removal_and_an_addition() -> None:
    renamed = items(version=2, drop=["amount"], add=[{"name": "total", "type": "int64", "min": 0}])
    diff = diff_contracts(items(), renamed)
    assert [(c.field, c.what) for c in diff.changes] == [("amount", "removed"), ("total", "added")]
    assert diff.level == "NONE" and not diff.ok


def test_a_transitive_level_judges_every_earlier_version() -> None:
    v1 = items()
    v2 = items(version=2, drop=["amount"])
    v3 = items(
        version=3,
        add=[AMOUNT_TEXT],
        drop=["amount"],
    )
    assert diff_contracts(v2, v3, [v1]).ok  # BACKWARD: v3 against v2 only
    v3t = items(
        version=3,
        compatibility="BACKWARD_TRANSITIVE",
        add=[AMOUNT_TEXT],
        drop=["amount"],
    )
    diff = diff_contracts(v2, v3t, [v1])
    assert not diff.ok and [(b.against, b.change.field, b.change.what) for b in diff.breaches] == [
        (1, "amount", "type")
    ]


def test_the_shipped_orders_contract_against_itself_is_unchanged() -> None:
    orders = find_contract("orders", Settings().contracts_root())
    diff = diff_contracts(orders, orders)
    assert diff.ok and not diff.schema_changed and diff.other == ()


TAGS = {"name": "tags", "type": "list", "items": "string", "nullable": True, "criticality": "warning"}


def test_a_list_column_added_keeps_backward_and_its_item_type_is_judged() -> None:
    with_tags = items(version=2, add=[TAGS])
    assert diff_contracts(items(), with_tags).ok
    assert column_field(with_tags.column("tags")).items is not None
    retyped = items(version=3, add=[{**TAGS, "items": "int64"}])
    diff = diff_contracts(with_tags, retyped)
    assert not diff.ok
    assert diff_contracts(with_tags, items(version=3, add=[TAGS])).ok


def test_a_retention_policy_is_no_layout_change_and_is_listed_among_the_other_changes() -> None:
    diff = diff_contracts(items(), items(partition={"column": "ts", "retention": "400d"}))
    moved = diff_contracts(items(), items(partition={"column": "day"}, add=[{"name": "day", "type": "date"}]))

    assert diff.ok and not diff.schema_changed and diff.other == ("partition.retention",)
    assert moved.lake  # the partition column itself still lays out the lake
