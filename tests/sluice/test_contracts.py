"""Contract loading: the shipped contracts load, and typos get a pointed message."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice.contracts import ColumnType, available_contracts, find_contract, parse_contract
from sluice.errors import ContractError
from sluice.settings import Settings

ROOT = Settings().contracts_root()


def _orders_text() -> str:
    return (ROOT / "orders.yaml").read_text()


def test_shipped_contracts_load_with_keys_partition_and_sla():
    orders = find_contract("orders", ROOT)
    assert available_contracts(ROOT) == ["customers", "orders"]
    assert orders.primary_key == ["order_id"] and orders.partition.column == "order_ts"
    assert orders.freshness_sla.total_seconds() == 6 * 3600
    assert orders.column("order_ts").type is ColumnType.TIMESTAMP
    assert orders.pii_columns == ["email"]
    assert find_contract("customers", ROOT).column("signup_date").type is ColumnType.DATE


def test_misspelled_field_is_named_with_a_suggestion():
    text = _orders_text().replace("nullable: true", "nulable: true", 1)
    with pytest.raises(ContractError, match=r"columns\[discount\]: unknown field 'nulable' \(did you mean 'nullable'\?\)"):
        parse_contract(text)


def test_primary_key_naming_an_unknown_column_suggests_the_close_one():
    with pytest.raises(ContractError, match="did you mean 'order_id'"):
        parse_contract(_orders_text().replace("primary_key: [order_id]", "primary_key: [orderid]"))


def test_nullable_primary_key_is_refused():
    text = _orders_text().replace("  - name: order_id\n    type: int64\n", "  - name: order_id\n    type: int64\n    nullable: true\n")
    with pytest.raises(ContractError, match="must be critical and not nullable"):
        parse_contract(text)


def test_bad_duration_and_bad_regex_are_refused():
    with pytest.raises(ContractError, match="freshness_sla"):
        parse_contract(_orders_text().replace("freshness_sla: 6h", "freshness_sla: soon"))
    with pytest.raises(ContractError, match="not a valid regular expression"):
        parse_contract(_orders_text().replace("'^[A-Z]{2}$'", "'^[A-Z{2}$'"))


def test_malformed_yaml_and_non_mapping_are_refused():
    with pytest.raises(ContractError, match="not valid YAML"):
        parse_contract("name: [unclosed")
    with pytest.raises(ContractError, match="must be a YAML mapping"):
        parse_contract("- a\n- b\n")


def test_unknown_contract_lists_the_known_ones(tmp_path: Path):
    with pytest.raises(ContractError) as info:
        find_contract("ordrs", ROOT)
    assert "did you mean 'orders'" in str(info.value) and "customers" in str(info.value)
