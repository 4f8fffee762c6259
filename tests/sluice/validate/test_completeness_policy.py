"""The contract's completeness policy: off by default, a short and a long form, a sum only of a numeric column."""

from __future__ import annotations

import pytest

from sluice.errors import ContractError
from sluice.settings import Settings
from sluice.validate.completeness import CompletenessPolicy
from sluice.validate.contracts import parse_contract

ORDERS = (Settings().contracts_root() / "orders.yaml").read_text()


def test_completeness_is_off_unless_the_contract_sets_it():
    assert parse_contract(ORDERS).completeness.policy is CompletenessPolicy.OFF
    assert not parse_contract(ORDERS).completeness.on


@pytest.mark.parametrize(
    ("text", "policy", "column"),
    [("completeness: strict", "strict", None), ("completeness: {policy: warn, sum: amount}", "warn", "amount")],
)
def test_the_short_and_the_long_form_load(text, policy, column):
    spec = parse_contract(ORDERS + text + "\n").completeness

    assert (spec.policy.value, spec.sum) == (policy, column)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("completeness: always", "completeness"),
        ("completeness: {policy: strict, sum: currency}", "must be int64 or float64"),
        ("completeness: {policy: strict, sum: amont}", "amount"),
    ],
)
def test_an_unknown_policy_or_a_sum_of_a_column_that_is_not_numeric_is_refused(text, message):
    with pytest.raises(ContractError, match=message):
        parse_contract(ORDERS + text + "\n")
