"""Contract loading: the shipped contracts load, and typos get a pointed message."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.errors import ContractError
from sluice.settings import Settings
from sluice.validate.contracts import (
    ColumnType,
    available_contracts,
    find_contract,
    parse_contract,
)

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
    with pytest.raises(
        ContractError, match=r"columns\[discount\]: unknown field 'nulable' \(did you mean 'nullable'\?\)"
    ):
        parse_contract(text)


def test_primary_key_naming_an_unknown_column_suggests_the_close_one():
    with pytest.raises(ContractError, match="did you mean 'order_id'"):
        parse_contract(_orders_text().replace("primary_key: [order_id]", "primary_key: [orderid]"))


def test_nullable_primary_key_is_refused():
    key = "  - name: order_id\n    type: int64\n"
    text = _orders_text().replace(key, key + "    nullable: true\n")
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


def _contracts_with_one_outside(tmp_path: Path) -> Path:
    """A contracts folder, and beside it ``c2/orders2.yaml``: a valid contract a name could reach with ``..``."""
    root = tmp_path / "contracts"
    root.mkdir()
    (root / "orders.yaml").write_text(_orders_text())
    (tmp_path / "c2").mkdir()
    (tmp_path / "c2" / "orders2.yaml").write_text(_orders_text().replace("name: orders", "name: orders2", 1))
    return root


def test_a_name_that_climbs_out_of_the_contracts_folder_is_refused_before_any_file_is_read(tmp_path: Path):
    root = _contracts_with_one_outside(tmp_path)

    with pytest.raises(ContractError, match="path separator") as info:
        find_contract("../c2/orders2", root)

    assert "lowercase letter first" in info.value.hint


def test_a_contract_whose_name_differs_from_its_file_name_is_refused(tmp_path: Path):
    root = tmp_path / "contracts"
    root.mkdir()
    (root / "sales.yaml").write_text(_orders_text())

    with pytest.raises(ContractError, match=r"declares name 'orders', but its file is named for 'sales'") as info:
        find_contract("sales", root)

    assert "rename the file to orders.yaml or set `name: sales`" in info.value.hint


def test_a_contract_name_must_be_a_dataset_name():
    with pytest.raises(ContractError, match="64 characters long"):
        parse_contract(_orders_text().replace("name: orders", "name: " + "o" * 64, 1))
    with pytest.raises(ContractError, match="uppercase"):
        parse_contract(_orders_text().replace("name: orders", "name: Orders", 1))


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.one_of(st.text(max_size=70), st.sampled_from(["../c2/orders2", "/etc/passwd", "orders\x00", "c2"])))
def test_any_name_loads_a_contract_or_raises_a_contract_error(tmp_path: Path, name: str):
    root = tmp_path / "contracts"
    if not root.exists():
        _contracts_with_one_outside(tmp_path)
    try:
        contract = find_contract(name, root)
    except ContractError as exc:
        assert exc.hint
        return
    assert contract.name == name == "orders"
