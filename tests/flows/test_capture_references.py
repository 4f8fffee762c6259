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
from sluice.runs.metastore import engine_for, list_runs
from sluice.settings import get_settings
from tests.flows.helpers import run_ingest
from tests.pgcluster import PgCluster, pg_logical  # noqa: F401 - the session fixture
from tests.sluice.sources.cdc.conftest import ACCOUNTS, ACCOUNTS_DDL, CdcSource, make_source
from tests.sluice.sources.cdc.test_keyed import KEYED, keyed_source

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


SUBS = """
name: subs
owner: tests@sluice.example
freshness_sla: 1d
primary_key: [sub_id]
partition: {column: at}
columns:
  - {name: sub_id, type: int64}
  - {name: at, type: timestamp}
  - {name: account_id, type: int64}
references:
  - columns: [account_id]
    to: accounts.id
    policy: hold
"""


@pytest.fixture()
def keyed(pg_logical: PgCluster, sluice_home, tmp_path, monkeypatch) -> Iterator[CdcSource]:
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    (contracts / "accounts.yaml").write_text(KEYED.format(mode="upsert", order="_lsn", deletes="hard"), "utf-8")
    (contracts / "subs.yaml").write_text(SUBS, "utf-8")
    monkeypatch.setenv("SLUICE_CONTRACTS_DIR", str(contracts))
    get_settings(fresh=True)
    yield from keyed_source(pg_logical, "upsert")


def _sub_ids() -> list[int]:
    table = open_table(table_uri(get_settings().lake_root(), "subs"))
    return [] if table is None else sorted(table.to_pyarrow_table(columns=["sub_id"]).column("sub_id").to_pylist())


def test_changes_applied_to_a_keyed_table_release_the_rows_held_for_it(
    prefect_api, dask_address, keyed, tmp_path
) -> None:
    lines = ["sub_id,at,account_id"] + [f"{i},2024-03-05T10:00:00Z,{i}" for i in range(1, 5)]
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "subs-1.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    held = run_ingest(dask_address, "subs", str(tmp_path / "subs"))
    assert (held.rows_read, held.rows_held, _sub_ids()) == (4, 4, [])

    with keyed.connect() as conn:
        conn.execute("INSERT INTO accounts (id, name) SELECT g, 'n' || g FROM generate_series(1, 3) g")
    capture_changes("accounts", keyed.slot, dsn=keyed.dsn)
    capture_changes("accounts", keyed.slot, dsn=keyed.dsn)  # nothing new: nothing more is released

    assert _sub_ids() == [1, 2, 3]
    with engine_for(get_settings().metadata_db_url()).connect() as conn:
        releases = [r for r in list_runs(conn, dataset="subs", limit=20) if r.flow == "release-held"]
    assert [(r.rows_read, r.rows_written) for r in releases] == [(3, 3)]
