"""``capture-changes`` into a keyed table, and what a run that fails midway records."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from deltalake import DeltaTable

from flows.capture_changes import capture_changes
from sluice.runs.metastore import engine_for, list_runs
from sluice.runs.records import RunReport
from sluice.settings import Settings, get_settings
from tests.pgcluster import PgCluster, pg_logical  # noqa: F401 - the session fixture
from tests.sluice.sources.cdc.conftest import CdcSource
from tests.sluice.sources.cdc.test_keyed import KEYED, keyed_source, lake_current, source_rows

pytestmark = pytest.mark.integration


@pytest.fixture()
def source(
    pg_logical: PgCluster, sluice_home: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CdcSource]:
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    (contracts / "accounts.yaml").write_text(KEYED.format(mode="upsert", order="_lsn", deletes="hard"), "utf-8")
    monkeypatch.setenv("SLUICE_CONTRACTS_DIR", str(contracts))
    get_settings(fresh=True)
    yield from keyed_source(pg_logical, "upsert")


def recorded(run_id: str) -> RunReport:
    with engine_for(get_settings().metadata_db_url()).connect() as conn:
        return {r.run_id: r for r in list_runs(conn, dataset="accounts")}[run_id]


def test_a_run_applies_changes_and_its_counts_add_up(prefect_api: object, source: CdcSource) -> None:
    with source.connect() as conn:
        conn.execute("INSERT INTO accounts (id, name) SELECT g, 'n' || g FROM generate_series(1, 20) g")
        conn.execute("UPDATE accounts SET name = name || '!' WHERE id % 2 = 0")
        conn.execute("DELETE FROM accounts WHERE id % 5 = 0")

    report = capture_changes("accounts", source.slot, dsn=source.dsn, batch_changes=7)

    assert lake_current(f"{get_settings().lake_root()}/accounts", "upsert", False) == source_rows(source)
    assert report.rows_read == 20 + 10 + 4
    assert (report.rows_written, report.rows_updated, report.rows_deleted) == (20, 10, 4)
    assert DeltaTable(f"{get_settings().lake_root()}/accounts").to_pyarrow_table().num_rows == 16
    stored = recorded(report.run_id)
    assert (stored.rows_written, stored.rows_updated, stored.rows_deleted) == (20, 10, 4)


def test_a_run_failing_after_some_batches_records_what_it_committed(prefect_api: object, source: CdcSource) -> None:
    with source.connect() as conn:
        conn.execute("INSERT INTO accounts (id, name) SELECT g, 'n' FROM generate_series(1, 5) g")
        conn.execute("UPDATE accounts SET name = 'm' WHERE id = 1")
        conn.execute("ALTER TABLE accounts DROP COLUMN name")
        conn.execute("INSERT INTO accounts (id) VALUES (99)")  # the contract's column is gone: the capture stops

    state = capture_changes("accounts", source.slot, dsn=source.dsn, batch_changes=3, return_state=True)

    assert state.is_failed()
    with engine_for(get_settings().metadata_db_url()).connect() as conn:
        (run,) = list_runs(conn, dataset="accounts")
    assert run.status == "failed" and "name" in run.error
    assert (run.rows_read, run.rows_written, run.rows_updated) == (6, 5, 1)
    assert run.files_committed and DeltaTable(f"{get_settings().lake_root()}/accounts").to_pyarrow_table().num_rows == 5
