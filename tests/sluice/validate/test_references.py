"""The references block of a contract and the orphan check, as plain functions."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from sluice.errors import ContractError
from sluice.formats import RawChunk
from sluice.settings import Settings
from sluice.validate.chunk import BatchContext, validate_chunk
from sluice.validate.contracts import Contract, find_contract, parse_contract
from sluice.validate.references import Reference, ReferencePolicy, distinct_keys, orphan_mask
from tests.factories import ORDER_HEADER, good_orders

ORDERS = find_contract("orders", Settings().contracts_root())
ORDERS_YAML = (Settings().contracts_root() / "orders.yaml").read_text(encoding="utf-8")
CTX = BatchContext("orders", "run-1", "batch-1", "/in/o.csv", date(2024, 3, 6))
KNOWN = {"customers.customer_id": pa.table({"customer_id": ["C000001", "C000003"]})}


def _with_policy(policy: str, **extra: object) -> Contract:
    raw = yaml.safe_load(ORDERS_YAML)
    raw["references"] = [{"columns": ["customer_id"], "to": "customers.customer_id", "policy": policy, **extra}]
    return parse_contract(yaml.safe_dump(raw))


def _chunk(n: int) -> RawChunk:
    rows = good_orders(n)  # customers C000001...C00000n
    table = pa.table({h: pa.array([getattr(r, h) or None for r in rows], pa.string()) for h in ORDER_HEADER})
    return RawChunk(table=table, rows=np.arange(2, n + 2, dtype=np.int64), malformed=[])


def test_the_shipped_orders_contract_references_customers_with_a_warning():
    (ref,) = ORDERS.references
    assert (ref.dataset, ref.parent_columns, ref.policy) == ("customers", ["customer_id"], ReferencePolicy.WARN)


def test_a_key_the_parent_lacks_is_an_orphan_and_a_null_key_is_not():
    table = pa.table({"customer_id": ["C000001", "C000002", None, "C000003"]})
    ref = Reference(columns=["customer_id"], to="customers.customer_id")
    assert orphan_mask(table, ref, KNOWN["customers.customer_id"]).tolist() == [False, True, False, False]
    assert orphan_mask(table, ref, None).tolist() == [True, True, False, True]


def test_a_compound_key_is_checked_by_an_anti_join_on_every_column():
    table = pa.table({"a": [1, 1, 2, None], "b": ["x", "y", "x", "x"]})
    parent = distinct_keys(pa.table({"p": [1, 2, 2, None], "q": ["x", "x", "x", "x"]}), ["p", "q"])
    ref = Reference(columns=["a", "b"], to="parents.p,q")
    assert parent.num_rows == 2
    assert orphan_mask(table, ref, parent).tolist() == [False, True, False, False]


def test_distinct_keys_drop_nulls_and_repeats():
    keys = distinct_keys(pa.table({"k": ["a", "b", "a", None]}), ["k"])
    assert sorted(keys.column("k").to_pylist()) == ["a", "b"]


def test_quarantine_policy_quarantines_orphans_as_orphan_reference():
    result = validate_chunk(_chunk(4), _with_policy("quarantine"), CTX, parents=KNOWN)
    assert result.valid.num_rows == 2 and result.orphans == 2
    assert set(result.quarantine.column("reason").to_pylist()) == {"orphan_reference"}
    assert sorted(result.quarantine.column("value").to_pylist()) == ["C000002", "C000004"]


def test_warn_policy_keeps_orphans_and_counts_them():
    result = validate_chunk(_chunk(4), ORDERS, CTX, parents=KNOWN)
    assert result.valid.num_rows == 4 and result.quarantine.num_rows == 0
    assert result.warnings["customer_id:orphan_reference"] == 2


def test_hold_policy_splits_orphans_off_the_valid_rows():
    result = validate_chunk(_chunk(4), _with_policy("hold", hold_timeout="30m"), CTX, parents=KNOWN)
    assert result.held is not None
    assert result.held.column("customer_id").to_pylist() == ["C000002", "C000004"]
    assert result.valid.column("customer_id").to_pylist() == ["C000001", "C000003"]
    assert result.held.schema == result.valid.schema


def test_without_parent_keys_references_are_not_checked():
    result = validate_chunk(_chunk(4), _with_policy("quarantine"), CTX)
    assert result.valid.num_rows == 4 and result.orphans == 0


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ({"columns": ["customer_id"], "to": "customers"}, "DATASET.COLUMN"),
        ({"columns": ["customer_id"], "to": "customers.a,b"}, "2 parent column(s)"),
        ({"columns": ["customer_idd"], "to": "customers.customer_id"}, "unknown column 'customer_idd'"),
        ({"columns": ["customer_id"], "to": "customers.customer_id", "hold_timeout": "soon"}, "hold_timeout"),
        ({"columns": ["customer_id"], "to": "customers.customer_id", "polcy": "hold"}, "did you mean 'policy'"),
    ],
)
def test_a_broken_reference_is_refused_with_its_location(ref, message):
    raw = yaml.safe_load(ORDERS_YAML)
    raw["references"] = [ref]
    with pytest.raises(ContractError, match="references") as err:
        parse_contract(yaml.safe_dump(raw))
    assert message in str(err.value)


def test_hold_timeout_reads_seconds_to_weeks():
    assert Reference(columns=["a"], to="p.a", hold_timeout="45s").hold_timeout == timedelta(seconds=45)
    assert Reference(columns=["a"], to="p.a", hold_timeout="2w").hold_timeout == timedelta(weeks=2)


_yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
_fields = st.fixed_dictionaries(
    {},
    optional={
        "columns": _yaml_values | st.lists(st.sampled_from(["customer_id", "order_id", "", "x"]), max_size=3),
        "to": _yaml_values | st.sampled_from(["customers.customer_id", ".", "a.", ".b", "x.y,z", "../c.d"]),
        "policy": _yaml_values | st.sampled_from(["hold", "warn", "quarantine", "HOLD"]),
        "hold_timeout": _yaml_values | st.sampled_from(["1s", "0s", "24h", "-1h", "P1D", "9999999999w"]),
    },
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(refs=st.lists(_fields | _yaml_values, max_size=3) | _yaml_values)
def test_any_references_block_parses_or_is_refused_as_a_contract_error(refs):
    raw = yaml.safe_load(ORDERS_YAML)
    raw["references"] = refs
    try:
        contract = parse_contract(yaml.safe_dump(raw))
    except ContractError:
        return
    for ref in contract.references:
        assert set(ref.columns) <= set(contract.column_names)
        assert len(ref.parent_columns) == len(ref.columns) and ref.hold_timeout > timedelta(0)


def test_a_reference_model_refuses_a_non_positive_timeout():
    with pytest.raises(ValidationError, match="positive"):
        Reference(columns=["a"], to="p.a", hold_timeout="0s")


def test_a_row_quarantined_for_another_reason_is_not_counted_as_an_orphan():
    chunk = _chunk(4)
    amounts = chunk.table.column("amount").to_pylist()
    amounts[1] = "-5"  # C000002: an orphan, and out of range
    table = chunk.table.set_column(chunk.table.schema.get_field_index("amount"), "amount", pa.array(amounts))
    result = validate_chunk(RawChunk(table=table, rows=chunk.rows, malformed=[]), ORDERS, CTX, parents=KNOWN)
    assert result.orphans == 1 and result.warnings["customer_id:orphan_reference"] == 1
