"""Contract apply modes: upsert and scd2 need a usable order_by; append refuses one."""

from __future__ import annotations

import pytest

from sluice.errors import ContractError
from sluice.validate.contracts import ApplyMode, DeleteMode, parse_contract

BASE = """
name: people
owner: a@sluice.example
freshness_sla: 1d
primary_key: [id]
partition: {column: ts}
columns:
  - {name: id, type: int64}
  - {name: ts, type: timestamp}
  - {name: seen, type: timestamp, nullable: true}
"""


def test_a_contract_without_mode_appends():
    c = parse_contract(BASE)
    assert c.mode is ApplyMode.APPEND and not c.keyed and c.deletes is DeleteMode.HARD


def test_upsert_by_a_critical_timestamp_is_accepted():
    c = parse_contract(BASE + "mode: upsert\norder_by: ts\ndeletes: tombstone\n")
    assert c.keyed and c.order_by == "ts" and c.deletes is DeleteMode.TOMBSTONE


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("mode: upsert\n", "needs order_by"),
        ("mode: scd2\norder_by: seen\n", "must be a critical, non-nullable"),
        ("mode: upsert\norder_by: tss\n", "did you mean 'ts'"),
        ("order_by: ts\n", "applies to mode upsert or scd2"),
        ("mode: merge\norder_by: ts\n", "mode"),
    ],
)
def test_a_mode_without_a_usable_order_by_is_refused_in_one_message(extra, message):
    with pytest.raises(ContractError, match=message):
        parse_contract(BASE + extra)


def test_scd2_refuses_a_column_named_like_its_interval_columns():
    text = BASE + "  - {name: valid_from, type: date, nullable: true}\nmode: scd2\norder_by: ts\n"
    with pytest.raises(ContractError, match="rename valid_from"):
        parse_contract(text)
