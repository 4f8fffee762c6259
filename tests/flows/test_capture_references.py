"""References in ``capture-changes``: accounts captured before their owners land, under each policy."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable, write_deltalake

from flows.capture_changes import capture_changes
from sluice.errors import ContractError
from sluice.lake.table import open_table, table_uri
from sluice.settings import get_settings
from tests.pgcluster import PgCluster, pg_logical  # noqa: F401 - the session fixture
from tests.sluice.sources.cdc.conftest import ACCOUNTS, ACCOUNTS_DDL, CdcSource, make_source

pytestmark = pytest.mark.integration

REFERENCE = """references:
  - columns: [name]
    to: owners.name
    policy: {policy}
"""


@pytest.fixture(params=["quarantine", "warn", "hold"])
def source(request, pg_logical: PgCluster, sluice_home, tmp_path, monkeypatch) -> Iterator[CdcSource]:
    contract = ACCOUNTS + REFERENCE.format(policy=request.param)
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    (contracts / "accounts.yaml").write_text(contract, encoding="utf-8")
    monkeypatch.setenv("SLUICE_CONTRACTS_DIR", str(contracts))
    get_settings(fresh=True)
    yield from make_source(pg_logical, ACCOUNTS_DDL, contract)


def _changes() -> pa.Table:
    return DeltaTable(table_uri(get_settings().lake_root(), "accounts_changes")).to_pyarrow_table()


def _orphans_quarantined() -> int:
    uri = get_settings().quarantine_root()
    if open_table(uri) is None:
        return 0
    reasons = DeltaTable(uri).to_pyarrow_table(columns=["reason"]).column("reason")
    return int(pc.sum(pc.equal(reasons, "orphan_reference")).as_py() or 0)


def test_changes_before_their_owners_follow_the_policy_and_a_rerun_changes_nothing(prefect_api, source) -> None:
    policy = source.contract.references[0].policy.value
    write_deltalake(table_uri(get_settings().lake_root(), "owners"), pa.table({"name": [f"n{i}" for i in range(6)]}))
    with source.connect() as conn:
        with conn.transaction():
            for i in range(10):  # n6..n9 have no owner
                conn.execute("INSERT INTO accounts (id, name, balance) VALUES (%s, %s, %s)", (i, f"n{i}", 1.0))
        conn.execute("DELETE FROM accounts WHERE id = 9")  # a delete is no orphan, whatever its row held

    if policy == "hold":
        with pytest.raises(ContractError, match="cannot hold orphans") as refused:
            capture_changes("accounts", source.slot, dsn=source.dsn)
        assert "policy: quarantine" in (refused.value.hint or "")
        return
    first = capture_changes("accounts", source.slot, dsn=source.dsn)
    again = capture_changes("accounts", source.slot, dsn=source.dsn)

    assert (first.status, first.rows_read, first.rows_orphaned) == ("completed", 11, 4)
    if policy == "quarantine":
        assert (first.rows_written, first.rows_quarantined, first.rows_duplicate) == (7, 4, 0)
        assert sorted(_changes().column("id").to_pylist()) == [0, 1, 2, 3, 4, 5, 9]
        assert _orphans_quarantined() == 4
    else:
        assert (first.rows_written, first.rows_quarantined, first.warnings) == (11, 0, {"name:orphan_reference": 4})
        assert _changes().num_rows == 11 and _orphans_quarantined() == 0
    assert (again.rows_read, again.rows_written, again.rows_quarantined) == (0, 0, 0)
    assert _orphans_quarantined() == (4 if policy == "quarantine" else 0)
