"""``capture-changes`` of a database only an SSH bastion reaches: the run opens the forward and captures through it."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from deltalake import DeltaTable

from flows.capture_changes import capture_changes
from sluice.lake.table import table_uri
from sluice.settings import get_settings
from tests.pgcluster import LOGICAL
from tests.sluice.sources.bastion import BastionNet, bastion_network
from tests.sluice.sources.cdc.conftest import ACCOUNTS, ACCOUNTS_DDL

pytestmark = pytest.mark.integration
SLOT = "s_bastion"


@pytest.fixture(scope="module")
def logical_bastion() -> Iterator[BastionNet]:
    """The bastion setup with a logical-decoding database behind it, holding ``accounts`` and a slot."""
    with bastion_network(LOGICAL) as net:
        with psycopg.connect(net.cluster.socket_url(), autocommit=True) as conn:
            conn.execute(ACCOUNTS_DDL)
            conn.execute("SELECT pg_create_logical_replication_slot(%s, 'wal2json')", (SLOT,))
        yield net


@pytest.fixture()
def contracts(sluice_home, tmp_path, monkeypatch, logical_bastion: BastionNet):
    folder = tmp_path / "contracts"
    folder.mkdir()
    (folder / "accounts.yaml").write_text(ACCOUNTS, encoding="utf-8")
    monkeypatch.setenv("SLUICE_CONTRACTS_DIR", str(folder))
    monkeypatch.setenv("SLUICE_DB_SSH_KNOWN_HOSTS", str(logical_bastion.known_hosts))
    return get_settings(fresh=True)


def test_a_capture_through_the_bastion_lands_every_change(prefect_api, contracts, logical_bastion) -> None:
    net = logical_bastion
    with psycopg.connect(net.cluster.socket_url(), autocommit=True) as conn:
        conn.execute("INSERT INTO accounts (id, name) SELECT i, 'n' || i FROM generate_series(1, 30) i")
        conn.execute("UPDATE accounts SET name = 'u' WHERE id <= 5")
    with pytest.raises(psycopg.OperationalError):  # no route from here but through the bastion
        psycopg.connect(net.db_url, connect_timeout=3)

    report = capture_changes("accounts", SLOT, dsn=net.tunneled_url(), create_slot=False)

    assert (report.status, report.rows_read, report.rows_written) == ("completed", 35, 35)
    assert report.flow == "capture-changes"
    lake = DeltaTable(table_uri(contracts.lake_root(), "accounts_changes")).to_pyarrow_table(columns=["id", "_op"])
    assert sorted(lake.column("_op").to_pylist()) == ["i"] * 30 + ["u"] * 5
