"""Changes applied to keyed tables (upsert, scd2): the lake holds what the source holds, whatever the changes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from deltalake import DeltaTable

from sluice.errors import ContractError
from sluice.settings import Settings
from sluice.sources.cdc import slots
from sluice.sources.cdc.capture import capture, capture_batch
from sluice.sources.cdc.sink import KeyedTable, make_sink
from sluice.validate.contracts import parse_contract
from tests.pgcluster import PgCluster
from tests.sluice.sources.cdc.conftest import CdcSource, make_source
from tests.sluice.sources.cdc.test_capture import BIG

KEYED = """
name: accounts
owner: tests@sluice.example
freshness_sla: 1d
primary_key: [id]
partition: {{column: created_at}}
mode: {mode}
order_by: {order}
deletes: {deletes}
columns:
  - {{name: id, type: int64}}
  - {{name: created_at, type: timestamp}}
  - {{name: updated_at, type: timestamp}}
  - {{name: name, type: string, nullable: true}}
  - {{name: body, type: string, nullable: true}}
  - {{name: _op, type: string, nullable: true}}
  - {{name: _lsn, type: int64}}
"""
DDL = (
    "CREATE TABLE accounts (id bigint PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now(), "
    "updated_at timestamptz NOT NULL DEFAULT clock_timestamp(), name text, body text)"
)
COLUMNS = ["id", "name", "body"]


def keyed_source(cluster: PgCluster, mode: str, order: str = "_lsn", deletes: str = "hard") -> Iterator[CdcSource]:
    return make_source(cluster, DDL, KEYED.format(mode=mode, order=order, deletes=deletes))


@pytest.fixture(params=["upsert-hard", "upsert-tombstone", "scd2-hard", "scd2-tombstone"])
def keyed(request: pytest.FixtureRequest, pg_logical: PgCluster) -> Iterator[CdcSource]:
    mode, deletes = request.param.split("-")
    yield from keyed_source(pg_logical, mode, deletes=deletes)


def sink(source: CdcSource, home: Path) -> KeyedTable:
    return KeyedTable(source.contract, str(home / "lake"), home / "staging", str(home / "quarantine"))


def source_rows(source: CdcSource) -> list[tuple[object, ...]]:
    with source.connect() as conn:
        return [tuple(r) for r in conn.execute(f"SELECT {', '.join(COLUMNS)} FROM accounts ORDER BY id").fetchall()]


def lake_current(uri: str, contract_mode: str, tombstone: bool) -> list[tuple[object, ...]]:
    table = DeltaTable(uri).to_pyarrow_table()
    rows = table.to_pylist()
    if contract_mode == "scd2":
        rows = [r for r in rows if r["is_current"]]
    if tombstone:
        rows = [r for r in rows if r["_op"] not in ("d", "t")]
    return sorted(tuple(r[c] for c in COLUMNS) for r in rows)


def write_everything(source: CdcSource) -> None:
    """Inserts, an update leaving a TOASTed column out, a key change, a delete, a TRUNCATE and after it an insert."""
    with source.connect() as conn:
        conn.execute("INSERT INTO accounts (id, name, body) VALUES (1, 'a', 'short'), (2, 'b', %s)", (BIG,))
        conn.execute("INSERT INTO accounts (id, name) VALUES (3, 'c'), (4, 'd')")
        conn.execute("UPDATE accounts SET name = 'b2', updated_at = clock_timestamp() WHERE id = 2")  # body: TOAST
        conn.execute("UPDATE accounts SET id = 30, updated_at = clock_timestamp() WHERE id = 3")  # key change
        conn.execute("DELETE FROM accounts WHERE id = 1")
        with conn.transaction():
            conn.execute("TRUNCATE accounts")
            conn.execute("INSERT INTO accounts (id, name, body) VALUES (2, 'again', %s)", (BIG,))
        conn.execute("INSERT INTO accounts (id, name) VALUES (5, 'e')")
        conn.execute("UPDATE accounts SET name = 'again2', updated_at = clock_timestamp() WHERE id = 2")  # TOAST


def test_the_keyed_table_equals_the_source_after_every_kind_of_change(keyed: CdcSource, sluice_home: Settings) -> None:
    home = sluice_home.home
    with keyed.connect() as conn:
        conn.execute("INSERT INTO accounts (id, name, body) VALUES (7, 'x', %s)", (BIG,))
    first = sink(keyed, home)
    capture(keyed.spec(), first)
    write_everything(keyed)
    reports = capture(keyed.spec(batch_changes=3), sink(keyed, home))  # several batches

    mode, deletes = keyed.contract.mode.value, keyed.contract.deletes.value
    assert lake_current(first.uri, mode, deletes == "tombstone") == source_rows(keyed)
    assert len(reports) > 1
    changes = sum(r.changes for r in reports)
    assert changes == sum(
        r.rows_written + r.rows_updated + r.rows_deleted + r.rows_unchanged + r.rows_duplicate for r in reports
    )
    assert sum(r.rows_deleted for r in reports) >= 2  # the delete and the truncate
    assert all(r.rows_duplicate >= 0 for r in reports)


def test_a_tombstone_keeps_the_last_values_of_the_key_in_its_partition(
    pg_logical: PgCluster, sluice_home: Settings
) -> None:
    for source in keyed_source(pg_logical, "upsert", deletes="tombstone"):
        with source.connect() as conn:
            conn.execute("INSERT INTO accounts (id, name, body, created_at) VALUES (1, 'a', %s, '2024-05-06')", (BIG,))
            conn.execute("DELETE FROM accounts WHERE id = 1")
            conn.execute("INSERT INTO accounts (id, name, created_at) VALUES (2, 'b', '2024-07-08')")
            conn.execute("TRUNCATE accounts")
        out = sink(source, sluice_home.home)
        capture(source.spec(), out)
        rows = {r["id"]: r for r in DeltaTable(out.uri).to_pyarrow_table().to_pylist()}
        assert (rows[1]["_op"], rows[1]["name"], rows[1]["body"], str(rows[1]["dt"])) == ("d", "a", BIG, "2024-05-06")
        assert (rows[2]["_op"], rows[2]["name"], str(rows[2]["dt"])) == ("t", "b", "2024-07-08")


def test_scd2_history_is_contiguous_and_a_truncate_closes_every_current_version(
    pg_logical: PgCluster, sluice_home: Settings
) -> None:
    for source in keyed_source(pg_logical, "scd2"):
        with source.connect() as conn:
            conn.execute("INSERT INTO accounts (id, name) VALUES (1, 'a'), (2, 'b')")
            conn.execute("UPDATE accounts SET name = 'a2' WHERE id = 1")
            conn.execute("TRUNCATE accounts")
            conn.execute("INSERT INTO accounts (id, name) VALUES (1, 'a3')")
        out = sink(source, sluice_home.home)
        capture(source.spec(), out)
        rows = sorted(DeltaTable(out.uri).to_pyarrow_table().to_pylist(), key=lambda r: (r["id"], r["valid_from"]))
        history = [(r["id"], r["name"], r["is_current"]) for r in rows]
        assert history == [(1, "a", False), (1, "a2", False), (1, "a3", True), (2, "b", False)]
        ones = [r for r in rows if r["id"] == 1]
        assert ones[0]["valid_to"] == ones[1]["valid_from"]
        assert ones[1]["valid_to"] < ones[2]["valid_from"]  # closed by the truncate, reopened by the insert
        assert rows[-1]["valid_to"] == ones[1]["valid_to"]  # both closed at the truncate's LSN


def test_ordered_by_updated_at_a_delete_takes_its_commit_time(pg_logical: PgCluster, sluice_home: Settings) -> None:
    for source in keyed_source(pg_logical, "upsert", order="updated_at"):
        write_everything(source)
        out = sink(source, sluice_home.home)
        capture(source.spec(), out)
        assert lake_current(out.uri, "upsert", False) == source_rows(source)


def test_a_replayed_batch_changes_nothing_and_the_slot_catches_up(keyed: CdcSource, sluice_home: Settings) -> None:
    with keyed.connect() as conn:
        conn.execute("INSERT INTO accounts (id, name) SELECT g, 'n' FROM generate_series(1, 5) g")
        conn.execute("UPDATE accounts SET name = 'm' WHERE id <= 2")
    out = sink(keyed, sluice_home.home)
    spec = keyed.spec()
    with keyed.connect() as conn:
        real_advance = slots.advance
        slots.advance = lambda *a, **k: 0  # the crash: commit, no advance
        try:
            first = capture_batch(conn, spec, out)
        finally:
            slots.advance = real_advance
        version = DeltaTable(out.uri).version()
        again = capture_batch(conn, spec, sink(keyed, sluice_home.home))  # a new run: catch up, nothing to read
    assert (first.changes, first.rows_written + first.rows_duplicate) == (7, 7)
    assert again.transactions == 0 and DeltaTable(out.uri).version() == version
    assert lake_current(out.uri, keyed.contract.mode.value, False) == source_rows(keyed)


def test_a_keyed_contract_without_op_or_with_an_integer_order_is_refused(sluice_home: Settings) -> None:
    no_op = KEYED.format(mode="upsert", order="_lsn", deletes="hard").replace(
        "  - {name: _op, type: string, nullable: true}\n", ""
    )
    with pytest.raises(ContractError, match="_op"):
        make_sink(parse_contract(no_op), lake_root="l", staging_root=Path("s"), quarantine_uri="q", engine=None)
    by_int = KEYED.format(mode="upsert", order="_lsn", deletes="hard").replace("_lsn", "version")
    with pytest.raises(ContractError, match="integer column"):
        make_sink(parse_contract(by_int), lake_root="l", staging_root=Path("s"), quarantine_uri="q", engine=None)
