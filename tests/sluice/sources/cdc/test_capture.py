"""Captured changes land in ``<dataset>_changes`` once each, with the LSNs the server gave them."""

from __future__ import annotations

import json

import pyarrow as pa
from deltalake import DeltaTable

from sluice.sources.cdc import slots
from sluice.sources.cdc.capture import capture, capture_batch
from sluice.sources.cdc.positions import parse_lsn
from tests.sluice.sources.cdc.conftest import CdcSource

BIG = "x" * 5 + "".join(
    chr(0x4E00 + i % 500) for i in range(300_000)
)  # TOASTed: well over 2 kB, not compressible to it


def raw_changes(source: CdcSource) -> tuple[list[tuple[str, int]], int]:
    """(action, lsn) of every row change, and the last commit LSN, read straight from a second slot's JSON."""
    witness = f"w_{source.slot}"[:63]
    with source.connect() as conn:
        rows = conn.execute(
            "SELECT lsn::text, data FROM pg_logical_slot_get_changes(%s, NULL, NULL, 'format-version', '2', "
            "'include-lsn', 'true', 'add-tables', 'public.accounts')",
            (witness,),
        ).fetchall()
        conn.execute("SELECT pg_drop_replication_slot(%s)", (witness,))
    changes = [(json.loads(d)["action"], parse_lsn(json.loads(d)["lsn"])) for _, d in rows]
    commits = [parse_lsn(lsn) for lsn, d in rows if json.loads(d)["action"] == "C"]
    return [c for c in changes if c[0] in "IUDT"], commits[-1]


def lake_rows(uri: str) -> pa.Table:
    return DeltaTable(uri).to_pyarrow_table().sort_by([("_lsn", "ascending"), ("_op", "ascending")])


def test_changes_round_trip_with_exact_lsns(cdc_source: CdcSource, sluice_home) -> None:
    with cdc_source.connect() as conn:
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'wal2json')", (f"w_{cdc_source.slot}"[:63],))
        conn.execute("INSERT INTO accounts (id, name, body, balance, active) VALUES (1, 'a', 'short', 1.5, true)")
        conn.execute("INSERT INTO accounts (id, name, body) VALUES (2, 'b', %s)", (BIG,))
        with conn.transaction():
            conn.execute("UPDATE accounts SET name = 'b2' WHERE id = 2")  # body TOASTed and unchanged
            conn.execute("UPDATE accounts SET id = 20 WHERE id = 2")  # a key change
        conn.execute("DELETE FROM accounts WHERE id = 1")
        conn.execute("TRUNCATE accounts")
        conn.execute("INSERT INTO accounts (id, name) VALUES (3, 'c')")
    expected, last_commit = raw_changes(cdc_source)
    sink = cdc_source.sink(sluice_home.home)
    reports = capture(cdc_source.spec(batch_changes=4), sink)
    assert len(reports) > 1  # several batches, each whole transactions
    rows = lake_rows(sink.uri)
    got = rows.select(["_op", "_lsn", "id", "name"]).to_pylist()
    assert [(r["_op"], r["_lsn"], r["id"], r["name"]) for r in got] == [
        ("i", expected[0][1], 1, "a"),
        ("i", expected[1][1], 2, "b"),
        ("u", expected[2][1], 2, "b2"),
        ("d", expected[3][1], 2, None),  # the old key of the key change
        ("u", expected[3][1], 20, "b2"),
        ("d", expected[4][1], 1, None),
        ("t", expected[5][1], None, None),
        ("i", expected[6][1], 3, "c"),
    ]
    assert [a for a, _ in expected] == ["I", "I", "U", "U", "D", "T", "I"]
    by_lsn = {(r["_op"], r["_lsn"]): r for r in rows.to_pylist()}
    assert by_lsn[("i", expected[1][1])]["body"] == BIG
    toast_update = by_lsn[("u", expected[2][1])]
    assert toast_update["body"] is None and json.loads(toast_update["_unchanged"]) == ["body"]
    assert by_lsn[("i", expected[0][1])]["balance"] == 1.5 and by_lsn[("i", expected[0][1])]["active"] is True
    assert rows.column("_commit_lsn").to_pylist()[-1] == last_commit
    assert sink.position(cdc_source.slot) == last_commit
    with cdc_source.connect() as conn:
        assert slots.slot_info(conn, cdc_source.slot).confirmed_lsn == last_commit


def test_restart_skips_what_the_lake_holds(cdc_source: CdcSource, sluice_home) -> None:
    """A capture that died between its lake commit and the slot advance re-reads, and writes nothing twice."""
    with cdc_source.connect() as conn:
        for i in range(5):
            conn.execute("INSERT INTO accounts (id, name) VALUES (%s, 'n')", (i,))
    sink = cdc_source.sink(sluice_home.home)
    spec = cdc_source.spec()
    with cdc_source.connect() as conn:
        before = slots.slot_info(conn, cdc_source.slot).confirmed_lsn
        real_advance = slots.advance
        slots.advance = lambda *a, **k: 0  # type: ignore[assignment]  # the crash: commit, no advance
        try:
            first = capture_batch(conn, spec, sink)
        finally:
            slots.advance = real_advance  # type: ignore[assignment]
        assert first.rows_written == 5
        assert slots.slot_info(conn, cdc_source.slot).confirmed_lsn == before
        conn.execute("INSERT INTO accounts (id, name) VALUES (99, 'late')")
    reports = capture(spec, sink)
    assert sum(r.rows_written for r in reports) == 1
    rows = lake_rows(sink.uri)
    assert sorted(rows.column("id").to_pylist()) == [0, 1, 2, 3, 4, 99]
    with cdc_source.connect() as conn:
        assert slots.slot_info(conn, cdc_source.slot).confirmed_lsn == sink.position(cdc_source.slot)


def test_advancing_a_slot_to_a_position_behind_it_leaves_it_where_it_is(cdc_source: CdcSource) -> None:
    with cdc_source.connect() as conn:
        conn.execute("INSERT INTO accounts (id, name, balance) VALUES (1, 'a', 1)")
        conn.execute("INSERT INTO accounts (id, name, balance) VALUES (2, 'b', 2)")
        ahead = parse_lsn(str(conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]))  # type: ignore[index]
        moved = slots.advance(conn, cdc_source.slot, ahead)
        start = slots.confirmed_lsn(conn, cdc_source.slot)

        assert moved == ahead == start
        assert slots.advance(conn, cdc_source.slot, ahead - 1) == ahead  # another capture got there first
        assert slots.confirmed_lsn(conn, cdc_source.slot) == ahead
