"""The ``capture-changes`` flow on a private logical-decoding cluster and the Prefect test server."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
from deltalake import DeltaTable

from flows.capture_changes import capture_changes
from ops.incidents.db import open_engine, store_url, transaction
from ops.incidents.service import ensure_incident, list_incidents
from sluice.runs.metastore import engine_for, list_runs
from sluice.settings import get_settings
from tests.pgcluster import PG_BIN, PgCluster, pg_logical  # noqa: F401 - the session fixture
from tests.sluice.sources.cdc.conftest import ACCOUNTS, ACCOUNTS_DDL, CdcSource, make_source

pytestmark = pytest.mark.integration


@pytest.fixture()
def source(pg_logical: PgCluster, sluice_home, tmp_path, monkeypatch) -> Iterator[CdcSource]:
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    (contracts / "accounts.yaml").write_text(ACCOUNTS, encoding="utf-8")
    monkeypatch.setenv("SLUICE_CONTRACTS_DIR", str(contracts))
    get_settings(fresh=True)
    yield from make_source(pg_logical, ACCOUNTS_DDL, ACCOUNTS)


def write_changes(source: CdcSource, n: int, start: int = 0) -> int:
    """``n`` inserts, then an update of every other row and a delete of every fifth: the changes made."""
    with source.connect() as conn:
        with conn.transaction():
            for i in range(start, start + n):
                conn.execute("INSERT INTO accounts (id, name, balance) VALUES (%s, %s, %s)", (i, f"n{i}", i * 1.5))
        conn.execute("UPDATE accounts SET name = name || '!' WHERE id %% 2 = 0 AND id >= %s", (start,))
        conn.execute("DELETE FROM accounts WHERE id %% 5 = 0 AND id >= %s", (start,))
    return n + len(range(start + start % 2, start + n, 2)) + len([i for i in range(start, start + n) if i % 5 == 0])


def incidents(home):
    with transaction(open_engine(store_url(home))) as session:
        return [ensure_incident(session, i.id) for i in list_incidents(session)]


def test_a_drain_run_captures_every_change_once_and_records_counts_that_add_up(prefect_api, source) -> None:
    made = write_changes(source, 40)

    first = capture_changes("accounts", source.slot, dsn=source.dsn, batch_changes=25)
    made_later = write_changes(source, 10, start=100)
    second = capture_changes("accounts", source.slot, dsn=source.dsn)
    again = capture_changes("accounts", source.slot, dsn=source.dsn)

    assert (first.status, first.rows_read, first.rows_written, first.rows_duplicate) == ("completed", made, made, 0)
    assert len(first.files) > 1  # several batches of whole transactions
    assert (second.rows_read, second.rows_written) == (made_later, made_later)
    assert (again.rows_read, again.rows_written, again.files) == (0, 0, [])
    lake = DeltaTable(f"{get_settings().lake_root()}/accounts_changes").to_pyarrow_table()
    assert lake.num_rows == made + made_later
    assert sorted(set(lake.column("_op").to_pylist())) == ["d", "i", "u"]
    with engine_for(get_settings().metadata_db_url()).connect() as conn:
        recorded = {r.run_id: r for r in list_runs(conn, dataset="accounts")}
    assert recorded[first.run_id].rows_written == made and recorded[first.run_id].status == "completed"
    with source.connect() as conn:
        lag = conn.execute(
            "SELECT pg_current_wal_lsn() - confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = %s",
            (source.slot,),
        ).fetchone()
    assert lag is not None and lag[0] < 1 << 16  # the slot moved up to the lake's position


def test_a_follow_run_captures_changes_made_while_it_runs(prefect_api, source) -> None:
    made: list[int] = []
    writer = threading.Timer(2.0, lambda: made.append(write_changes(source, 30)))
    writer.start()

    report = capture_changes("accounts", source.slot, dsn=source.dsn, follow_seconds=6.0, idle_sleep_seconds=0.2)
    writer.join()

    assert report.rows_read == made[0] and report.rows_written == made[0]
    assert report.stage_seconds["capture"] >= 6.0


def test_a_server_without_logical_decoding_opens_an_incident_with_the_cdc_runbook(prefect_api, sluice_home) -> None:
    from tests.pgcluster import running_cluster

    with running_cluster({"wal_level": "replica"}) as plain:
        state = capture_changes("orders", "s_orders", dsn=plain.url(), return_state=True)

    assert state.is_failed()
    (incident,) = incidents(sluice_home.home)
    assert incident.runbook_id == "cdc-slot-lag"
    assert "exception=CdcError" in incident.signature and "wal_level" in incident.title
    with engine_for(get_settings().metadata_db_url()).connect() as conn:
        (run,) = list_runs(conn, dataset="orders")
    assert run.status == "failed" and "wal_level" in run.error


def test_a_slot_held_by_another_consumer_fails_after_retries_with_the_cdc_runbook(prefect_api, source) -> None:
    write_changes(source, 3)
    recv = str(PG_BIN / "pg_recvlogical")
    holder = subprocess.Popen([recv, "-d", source.dsn, "--slot", source.slot, "--start", "-f", "/dev/null"])
    try:
        with source.connect() as conn:
            for _ in range(100):
                row = conn.execute(
                    "SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s", (source.slot,)
                ).fetchone()
                if row and row[0]:
                    break
                time.sleep(0.1)
        state = capture_changes("accounts", source.slot, dsn=source.dsn, return_state=True)
    finally:
        holder.terminate()
        holder.wait(10)

    assert state.is_failed()
    (incident,) = incidents(get_settings().home)
    assert incident.runbook_id == "cdc-slot-lag" and "SlotInUseError" in incident.signature


def test_drain_and_follow_runs_end_under_a_steady_write_load(prefect_api, source) -> None:
    stop = threading.Event()

    def load() -> None:
        with source.connect() as conn:
            i = 1_000_000
            while not stop.wait(0.005):  # about 200 transactions a second, as long as the test runs
                conn.execute("INSERT INTO accounts (id, name) VALUES (%s, 'load')", (i,))
                i += 1

    writer = threading.Thread(target=load)
    writer.start()
    try:
        time.sleep(1.0)
        clock = time.monotonic()
        drained = capture_changes("accounts", source.slot, dsn=source.dsn, batch_changes=100)
        drain_s = time.monotonic() - clock
        clock = time.monotonic()
        followed = capture_changes("accounts", source.slot, dsn=source.dsn, batch_changes=100, follow_seconds=3.0)
        follow_s = time.monotonic() - clock
    finally:
        stop.set()
        writer.join()

    assert drained.rows_read > 0 and drained.rows_read == drained.rows_written and drain_s < 30
    assert followed.rows_read > 0 and followed.rows_read == followed.rows_written and follow_s < 30


def test_a_dropped_contract_column_stops_the_capture_with_the_schema_change_runbook(prefect_api, source) -> None:
    write_changes(source, 5)
    with source.connect() as conn:
        conn.execute("ALTER TABLE accounts DROP COLUMN name")
        conn.execute("INSERT INTO accounts (id) VALUES (999)")

    state = capture_changes("accounts", source.slot, dsn=source.dsn, return_state=True)

    assert state.is_failed()
    (incident,) = incidents(get_settings().home)
    assert incident.runbook_id == "source-schema-change" and "SourceSchemaChangeError" in incident.signature
    with source.connect() as conn:  # the slot stopped before the change: nothing after it is lost
        (pending,) = conn.execute(
            "SELECT count(*) FROM pg_logical_slot_peek_changes(%s, NULL, NULL)", (source.slot,)
        ).fetchone()
    assert pending > 0


def test_a_verify_block_is_refused_before_the_slot_moves_and_opens_an_incident(prefect_api, source) -> None:
    from sluice.errors import ContractError

    contract = get_settings().contracts_root() / "accounts.yaml"
    contract.write_text(ACCOUNTS + "verify:\n  contract: true\n", encoding="utf-8")
    made = write_changes(source, 10)

    with pytest.raises(ContractError, match="capture-changes cannot verify and roll back its commits"):
        capture_changes("accounts", source.slot, dsn=source.dsn)

    (incident,) = incidents(get_settings().home)
    assert incident.runbook_id == "invalid-contract-or-config" and "ContractError" in incident.signature
    contract.write_text(ACCOUNTS, encoding="utf-8")
    after = capture_changes("accounts", source.slot, dsn=source.dsn)
    assert (after.rows_read, after.rows_written) == (made, made)  # the refused run consumed nothing
