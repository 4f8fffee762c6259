"""After any mix of snapshot, incremental and capture runs, with restarts, the lake equals the source.

A seeded random sequence of source changes (inserts, updates, key changes,
deletes, TRUNCATE, late rows whose cursor value is before the last read's)
interleaved with runs: snapshots, incremental reads, captures, a capture
killed between its lake commit and its slot advance, a read staged and never
committed, and a rerun of a committed read. Then the lake is compared with
the source row by row:

- upsert: the source's rows exactly (PostgreSQL, after a capture). On
  MariaDB, which has no capture, deletes never reach the lake: every source
  row is there exactly, and every other lake row is one the source deleted;
- scd2: the current rows as upsert, and each key's history intervals well
  formed and non-overlapping;
- append: no key twice, every source key present; on PostgreSQL
  ``<dataset>_changes`` holds every change the server decoded exactly once.

On PostgreSQL the contracts order by ``_lsn``: the slot exists before the
first snapshot, and reads stamp their snapshot's WAL position
(:mod:`sluice.sources.database_read`). On MariaDB they order by
``updated_at``, which every update moves forward.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import random
import string
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from unittest import mock

import psycopg
import pytest
from deltalake import DeltaTable

from sluice.lake.table import table_uri
from sluice.settings import Settings
from sluice.sources.cdc import slots
from sluice.sources.cdc.capture import CaptureSpec, capture, capture_batch
from sluice.sources.cdc.decode import TableRef
from sluice.sources.cdc.positions import parse_lsn
from sluice.sources.cdc.sink import make_sink
from sluice.sources.database_stage import last_position, snapshot_table, stage_incremental
from sluice.validate.contracts import Contract, parse_contract
from tests.pgcluster import PgCluster, pg_logical  # noqa: F401 - the session fixture
from tests.sluice.sources.dbfixtures import MARIADB_URL, commit, maria_exec, request, spec, unique

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
LOOKBACK = 30.0  # seconds of the sequence's clock: a late row is an hour back, out of reach of the look-back
STEPS = 24
SEEDS = {"upsert": 101, "scd2": 202, "append": 303}
COLUMNS = ["id", "created_at", "updated_at", "name", "body"]
CONTRACT = """
name: {name}
owner: tests@sluice.example
freshness_sla: 1d
primary_key: [id]
partition: {{column: created_at}}
{keyed}
columns:
  - {{name: id, type: int64}}
  - {{name: created_at, type: timestamp}}
  - {{name: updated_at, type: timestamp}}
  - {{name: name, type: string, nullable: true}}
  - {{name: body, type: string, nullable: true}}
{change_columns}
"""


def contract(name: str, mode: str, order: str) -> Contract:
    if mode == "append":
        return parse_contract(CONTRACT.format(name=name, keyed="", change_columns=""))
    changes = "  - {name: _op, type: string, nullable: true}\n"
    changes += "  - {name: _lsn, type: int64}\n" if order == "_lsn" else ""
    keyed = f"mode: {mode}\norder_by: {order}\ndeletes: hard"
    return parse_contract(CONTRACT.format(name=name, keyed=keyed, change_columns=changes))


@dataclass
class Source:
    """The source table and what the sequence did to it."""

    kind: str  # pg or maria
    url: str
    table: str
    execute: Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]]
    rng: random.Random
    clock: int = 0
    next_id: int = 1
    ever: set[int] = field(default_factory=set)  # every key the source ever held

    def now(self) -> datetime:
        self.clock += 1
        return T0 + timedelta(seconds=self.clock)

    def value(self, stamp: datetime) -> datetime:
        return stamp if self.kind == "pg" else stamp.replace(tzinfo=None)

    @property
    def q(self) -> str:
        return f'"{self.table}"' if self.kind == "pg" else f"`{self.table}`"

    def ids(self) -> list[int]:
        return [int(r[0]) for r in self.execute(f"SELECT id FROM {self.q} ORDER BY id", ())]

    def rows(self) -> dict[int, tuple[Any, ...]]:
        found = self.execute(f"SELECT {', '.join(COLUMNS)} FROM {self.q}", ())
        return {int(r[0]): normal(r) for r in found}

    def body(self) -> str | None:
        """Now and then a value big enough to be TOASTed, so updates that leave it untouched do not send it."""
        roll = self.rng.random()
        return "".join(self.rng.choices(string.ascii_letters, k=6000)) if roll < 0.2 else f"b{roll:.3f}"

    def insert(self, late: bool = False) -> None:
        stamp = self.now() - (timedelta(hours=1) if late else timedelta(0))
        ident, self.next_id = self.next_id, self.next_id + 1
        self.ever.add(ident)
        sql = f"INSERT INTO {self.q} ({', '.join(COLUMNS)}) VALUES (%s, %s, %s, %s, %s)"
        self.execute(sql, (ident, self.value(T0), self.value(stamp), f"n{ident}", self.body()))

    def change(self) -> None:
        ids = self.ids()
        if not ids:
            return self.insert()
        ident, roll = self.rng.choice(ids), self.rng.random()
        stamp = self.value(self.now())
        if roll < 0.5:  # the body stays as it is: a TOASTed one is not sent
            self.execute(
                f"UPDATE {self.q} SET name = %s, updated_at = %s WHERE id = %s", (f"u{roll:.4f}", stamp, ident)
            )
        elif roll < 0.65:
            new, self.next_id = self.next_id, self.next_id + 1
            self.ever.add(new)
            self.execute(f"UPDATE {self.q} SET id = %s, updated_at = %s WHERE id = %s", (new, stamp, ident))
        else:
            self.execute(f"DELETE FROM {self.q} WHERE id = %s", (ident,))

    def truncate(self) -> None:
        self.execute(f"TRUNCATE {self.q}", ())


def _utc(value: Any) -> Any:
    if not isinstance(value, datetime):
        return value
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def normal(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A row with its timestamps as UTC-aware datetimes (MariaDB returns them naive, in UTC)."""
    return tuple(_utc(v) for v in row)


@dataclass
class Runs:
    """The runs of the sequence, against one lake."""

    settings: Settings
    source: Source
    contract: Contract
    capture_spec: CaptureSpec | None = None
    count: int = 0
    last_outcomes: tuple[Any, list[Any]] | None = None

    def _req(self) -> Any:
        self.count += 1
        s = spec(self.source.url, self.contract, table=self.source.table, cursor="updated_at")
        return request(self.settings, s, f"r{self.count}-{uuid.uuid4().hex[:6]}")

    def snapshot(self, committed: bool = True) -> None:
        req = self._req()
        outcomes = snapshot_table(req, parts=2)
        if committed:
            commit(self.settings, req, outcomes)
            self.last_outcomes = (req, outcomes)

    def incremental(self, committed: bool = True) -> None:
        req = self._req()
        out = stage_incremental(req, last_position(req.lake_uri, req.spec.source), LOOKBACK)
        if committed and out is not None:
            commit(self.settings, req, [out])
            self.last_outcomes = (req, [out])

    def rerun(self) -> None:
        """A read committed again (its run died before it was recorded): every batch is skipped."""
        if self.last_outcomes is not None:
            req, outcomes = self.last_outcomes
            result = commit(self.settings, req, outcomes)
            assert result.committed == []

    def sink(self) -> Any:
        s = self.settings
        return make_sink(
            self.contract,
            lake_root=s.lake_root(),
            staging_root=s.staging_root(),
            quarantine_uri=s.quarantine_root(),
            engine=None,
        )

    def capture(self) -> None:
        assert self.capture_spec is not None
        capture(self.capture_spec, self.sink())

    def killed_capture(self) -> None:
        """One batch committed to the lake, the slot never advanced: the next capture reads it again."""
        assert self.capture_spec is not None
        with slots.connect(self.capture_spec.dsn) as conn, mock.patch.object(slots, "advance", lambda *a, **k: 0):
            capture_batch(conn, self.capture_spec, self.sink())


def play(source: Source, runs: Runs, steps: int, check: Callable[[], None]) -> None:
    """The random sequence: source changes between runs; ``check`` after every capture (PostgreSQL)."""
    rng = source.rng
    kinds = ["snapshot", "incremental", "incremental", "staged-only", "rerun"]
    if runs.capture_spec is not None:
        kinds += ["capture", "capture", "killed-capture"]
    for _ in range(3):
        source.insert()
    for step in range(steps):
        for _ in range(rng.randint(1, 4)):
            roll = rng.random()
            if roll < 0.35:
                source.insert()
            elif roll < 0.45:
                source.insert(late=True)
            elif roll < 0.97 or step < 3:
                source.change()
            else:
                source.truncate()
        kind = rng.choice(kinds)
        if kind == "snapshot":
            runs.snapshot()
        elif kind == "incremental":
            runs.incremental()
        elif kind == "staged-only":
            (runs.snapshot if rng.random() < 0.5 else runs.incremental)(committed=False)
        elif kind == "rerun":
            runs.rerun()
        elif kind == "killed-capture":
            runs.killed_capture()
        else:
            runs.capture()
            check()


def lake_table(settings: Settings, name: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = DeltaTable(table_uri(settings.lake_root(), name)).to_pyarrow_table().to_pylist()
    return rows


def as_row(row: dict[str, Any]) -> tuple[Any, ...]:
    return normal(tuple(row[c] for c in COLUMNS))


def check_keyed(settings: Settings, source: Source, c: Contract, exact: bool) -> None:
    """Current rows equal the source's (``exact``) or the source's plus deleted keys; scd2 intervals well formed."""
    rows = lake_table(settings, c.name)
    current = [r for r in rows if r.get("is_current", True)]
    keys = [r["id"] for r in current]
    assert len(keys) == len(set(keys)), "a key has two current rows"
    lake = {r["id"]: as_row(r) for r in current}
    wanted = source.rows()
    assert {k: lake.get(k) for k in wanted} == wanted
    gone = set(lake) - set(wanted)
    assert not gone if exact else gone <= source.ever
    if c.mode.value == "scd2":
        check_intervals(rows)


def check_intervals(rows: list[dict[str, Any]]) -> None:
    by_key: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        by_key.setdefault(r["id"], []).append(r)
    for key, versions in by_key.items():
        versions.sort(key=lambda r: r["valid_from"])
        for here, after in itertools.pairwise(versions):
            assert here["valid_to"] is not None and not here["is_current"], f"key {key}: an open version before another"
            assert here["valid_from"] < here["valid_to"] <= after["valid_from"], f"key {key}: intervals overlap"
        last = versions[-1]
        assert last["is_current"] == (last["valid_to"] is None)


def check_append(settings: Settings, source: Source, c: Contract) -> None:
    keys = [r["id"] for r in lake_table(settings, c.name)]
    assert len(keys) == len(set(keys)) and set(source.ids()) <= set(keys) <= source.ever


def witness_changes(dsn: str, witness: str, table: str) -> list[tuple[str, int]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT data FROM pg_logical_slot_peek_changes(%s, NULL, NULL, 'format-version', '2', "
            "'include-lsn', 'true', 'add-tables', %s)",
            (witness, f"public.{table}"),
        ).fetchall()
    found = []
    for change in (json.loads(d) for (d,) in rows):
        if change["action"] not in "IUDT":
            continue
        lsn = parse_lsn(change["lsn"])
        found.append((change["action"].lower(), lsn))
        old = {c["name"]: c["value"] for c in change.get("identity", [])}
        new = {c["name"]: c["value"] for c in change.get("columns", [])}
        if change["action"] == "U" and old.get("id", new["id"]) != new["id"]:
            found.append(("d", lsn))  # a key change: the old key's delete, at the same LSN
    return found


@contextlib.contextmanager
def pg_source(cluster: PgCluster, seed: int) -> Iterator[tuple[Source, CaptureSpec, str]]:
    database = f"m_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(cluster.url(), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {database}")
    dsn = cluster.url(database)

    def execute(sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with psycopg.connect(dsn, autocommit=True) as conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []

    execute(
        "CREATE TABLE items (id bigint PRIMARY KEY, created_at timestamptz NOT NULL, "
        "updated_at timestamptz NOT NULL, name text, body text)",
        (),
    )
    slot, witness = f"s_{database}", f"w_{database}"
    for name in (slot, witness):  # before the first snapshot: nothing committed after it is missed
        execute("SELECT pg_create_logical_replication_slot(%s, 'wal2json')", (name,))
    source = Source("pg", dsn, "items", execute, random.Random(seed))
    try:
        yield source, CaptureSpec(dsn, slot, TableRef("public", "items", contract("items", "upsert", "_lsn"))), witness
    finally:
        with psycopg.connect(cluster.url(), autocommit=True) as admin:
            for name in (slot, witness):
                admin.execute("SELECT pg_drop_replication_slot(%s)", (name,))
            admin.execute(f"DROP DATABASE {database} WITH (FORCE)")


@pytest.mark.parametrize("mode", ["upsert", "scd2", "append"])
def test_postgresql_lake_equals_source_after_any_mix_of_runs(
    pg_logical: PgCluster, sluice_home: Settings, mode: str
) -> None:
    c = contract("items", mode, "_lsn")
    with pg_source(pg_logical, seed=SEEDS[mode]) as (source, base_spec, witness):
        capture_spec = CaptureSpec(base_spec.dsn, base_spec.slot, TableRef("public", "items", c), batch_changes=8)
        runs = Runs(sluice_home, source, c, capture_spec)
        check = (lambda: check_keyed(sluice_home, source, c, exact=True)) if mode != "append" else (lambda: None)
        play(source, runs, STEPS, check)
        runs.snapshot()
        runs.capture()
        if mode == "append":
            check_append(sluice_home, source, c)
            changes = [(r["_op"], r["_lsn"]) for r in lake_table(sluice_home, "items_changes")]
            assert len(changes) == len(set(changes)), "a change landed twice"
            assert set(changes) == set(witness_changes(source.url, witness, "items"))
        else:
            check_keyed(sluice_home, source, c, exact=True)


@pytest.mark.parametrize("mode", ["upsert", "scd2", "append"])
def test_mariadb_lake_equals_source_after_any_mix_of_snapshots_and_incremental_runs(
    sluice_home: Settings, mode: str
) -> None:
    table = unique("sl_mix")
    maria_exec(
        f"CREATE TABLE `{table}` (id bigint PRIMARY KEY, created_at timestamp(6) NOT NULL, "
        "updated_at timestamp(6) NOT NULL, name varchar(50), body mediumtext) CHARACTER SET utf8mb4"
    )
    try:
        c = contract("items", mode, "updated_at")
        source = Source(
            "maria", MARIADB_URL, table, lambda q, p: maria_exec(q, p or None), random.Random(SEEDS[mode] + 1)
        )
        runs = Runs(sluice_home, source, c)
        play(source, runs, STEPS, lambda: None)
        runs.snapshot()  # a late row out of the look-back's reach is read by a snapshot
        if mode == "append":
            check_append(sluice_home, source, c)
        else:
            check_keyed(sluice_home, source, c, exact=False)
    finally:
        maria_exec(f"DROP TABLE IF EXISTS `{table}`")
