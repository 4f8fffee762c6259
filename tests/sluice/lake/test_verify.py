"""The contract check of a commit: the rows a version added, read back and validated against the contract."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from sluice.errors import ContractError
from sluice.lake.verify import Check, check_contract, contract_failures, ensure_verifiable
from sluice.validate.coerce import arrow_schema
from sluice.validate.contract_parts import VerifySpec
from sluice.validate.contracts import load_contract

ORDERS = load_contract(Path(__file__).resolve().parents[3] / "sluice" / "contracts" / "orders.yaml")


def _order(order_id: int, *, amount: float = 10.0, currency: str = "EUR") -> dict[str, object]:
    return {
        "order_id": order_id,
        "customer_id": "C000001",
        "order_ts": datetime(2026, 3, 5, 10, tzinfo=timezone.utc),
        "status": "paid",
        "amount": amount,
        "currency": currency,
        "quantity": 1,
        "discount": None,
        "channel": "web",
        "country": "DE",
        "email": None,
        "updated_at": None,
    }


def _rows(orders: list[dict[str, object]]) -> pa.Table:
    return pa.Table.from_pylist(orders, schema=arrow_schema(ORDERS))


def test_rows_that_meet_the_contract_pass():
    assert contract_failures(_rows([_order(1), _order(2)]), ORDERS) == (0, [])


def test_rows_that_break_a_critical_rule_are_counted_with_the_rule():
    bad, rules = contract_failures(_rows([_order(1), _order(2, amount=-5.0), _order(3, currency="XXX")]), ORDERS)
    assert bad == 2
    assert any(r.startswith("amount") for r in rules) and any(r.startswith("currency") for r in rules)


def test_a_missing_column_fails_every_row():
    bad, rules = contract_failures(_rows([_order(1)]).drop_columns(["amount"]), ORDERS)
    assert bad == 1 and rules == ["column(s) amount missing"]


def test_the_check_reads_only_the_rows_the_version_added(tmp_path):
    uri = str(tmp_path / "orders")
    write_deltalake(uri, _rows([_order(1, amount=-1.0)]))
    write_deltalake(uri, _rows([_order(2), _order(3)]), mode="append")
    write_deltalake(uri, _rows([_order(4), _order(5, amount=-2.0)]), mode="append")

    good = check_contract(uri, 1, ORDERS)
    bad = check_contract(uri, 2, ORDERS)

    assert good.check is Check.CONTRACT and good.passed and "all 2 committed rows" in good.reason
    assert not bad.passed and bad.reason.startswith("1 of 2 committed rows break the contract: amount")


def test_a_flow_that_acknowledges_its_source_refuses_a_verify_block():
    verified = ORDERS.model_copy(update={"verify": VerifySpec(contract=True, quarantine_spike=True)})

    for flow in ("capture-changes", "ingest-stream"):
        with pytest.raises(ContractError, match=rf"orders: {flow} cannot verify .*contract, quarantine_spike"):
            ensure_verifiable(verified, flow)
        ensure_verifiable(ORDERS, flow)  # no check turned on: nothing to refuse
    ensure_verifiable(verified, "ingest-table")
