"""Retention policies: a contract's retention, the delete of older partitions, holds, and what time travel keeps."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from sluice.errors import ContractError
from sluice.lake.log import vacuum
from sluice.retention.holds import add_hold
from sluice.retention.service import retention_pass
from sluice.runs.metastore import engine_for
from sluice.validate.contracts import parse_contract
from tests.sluice.retention.lake import CONTRACTS, customers, every_version, ingest, write_contracts

TODAY = date(2026, 3, 1)


def _contract(retention: str) -> str:
    return CONTRACTS["customers"] % {"retention": f", retention: {retention}"}


@pytest.mark.parametrize(("text", "days"), [("400d", 400), ("8w", 56), ("1d", 1)])
def test_a_retention_in_days_or_weeks_is_accepted(text, days):
    assert parse_contract(_contract(text)).partition.retention.days == days


@pytest.mark.parametrize("text", ["12h", "0d", "forever", "-3d", "1.5d"])
def test_other_retentions_are_refused_naming_the_field(text):
    with pytest.raises(ContractError, match="retention"):
        parse_contract(_contract(text))


@pytest.fixture()
def aged(home, tmp_path):
    write_contracts(tmp_path / "contracts", customer_retention="30d")
    ingest(home, "customers", customers(["old1@example.com", "old2@example.com"], day="2026-01-10"))
    ingest(home, "customers", customers(["new@example.com"], start=3, day="2026-02-20"))
    return home


def _emails(uri: str) -> list[str]:
    return sorted(pa.table(DeltaTable(uri).to_pyarrow_table()).column("email").to_pylist())


def test_rows_older_than_the_policy_are_deleted_and_after_the_vacuum_no_version_holds_them(aged):
    uri = f"{aged.lake_root()}/customers"

    outcomes = {o.dataset: o for o in retention_pass(aged, TODAY)}
    vacuum(uri, retention_hours=0, dry_run=False)

    assert outcomes["customers"].rows_deleted == 2 and outcomes["customers"].cutoff == date(2026, 1, 30)
    assert outcomes["orders"].cutoff is None  # no policy
    assert _emails(uri) == ["new@example.com"]
    readable = {v: rows for v, rows in every_version(uri).items() if rows is not None}
    assert readable and all("old1@example.com" not in rows.column("email").to_pylist() for rows in readable.values())


def test_a_dataset_hold_keeps_old_rows_and_says_why(aged):
    with engine_for(aged.metadata_db_url()).begin() as conn:
        hold = add_hold(conn, "customers", "tax audit 2026")

    outcome = next(o for o in retention_pass(aged, TODAY) if o.dataset == "customers")

    assert outcome.rows_deleted == 0 and outcome.held_by == (f"{hold.hold_id}: tax audit 2026",)
    assert "held" in outcome.summary and "tax audit 2026" in outcome.summary
    assert _emails(f"{aged.lake_root()}/customers") == ["new@example.com", "old1@example.com", "old2@example.com"]


def test_before_the_vacuum_time_travel_still_reaches_the_deleted_rows(aged):
    uri = f"{aged.lake_root()}/customers"
    retention_pass(aged, TODAY)

    versions = every_version(uri)

    assert any(
        rows is not None and "old1@example.com" in rows.column("email").to_pylist() for rows in versions.values()
    )
