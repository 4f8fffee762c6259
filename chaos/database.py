"""The drill's database source: a PostgreSQL table of orders on the drill's own server, and what happens to it.

A database drill starts a private cluster (:mod:`chaos.pgserver`) with one
database, ``drill``, holding the table ``orders`` under the packaged
``orders`` contract, and a wal2json replication slot created before the first
row is written (so change capture sees every change). The drill then:

- writes to it as an application would (:meth:`DrillDatabase.insert`,
  :meth:`~DrillDatabase.update`, :meth:`~DrillDatabase.delete`, or
  :class:`Writer`, a steady stream of small transactions that rides out a
  restart);
- hurts it: :meth:`~DrillDatabase.terminate_sessions` (``pg_terminate_backend``
  of Sluice's sessions, named ``sluice`` in ``pg_stat_activity``),
  :meth:`~DrillDatabase.restart`, :meth:`~DrillDatabase.alter`;
- reads it back for the judge: :meth:`~DrillDatabase.rows`, the source's rows
  by primary key over the contract's columns.

Sluice's runs reach it through :meth:`~DrillDatabase.url` (``ingest-table``
names its sessions ``sluice`` itself) and :meth:`~DrillDatabase.capture_dsn`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from chaos.parity import Rows, keyed
from chaos.pgserver import PgServer, start_server
from ops.errors import ChaosError
from sluice.sources.database import APPLICATION_NAME
from sluice.validate.contracts import Contract

if TYPE_CHECKING:
    import psycopg

    from chaos.stack import DrillStack

logger = logging.getLogger(__name__)
DATABASE = "drill"
SLOT = "sluice_drill"
WRITER = "drill-writer"
DDL = """
CREATE TABLE orders (
  order_id bigint PRIMARY KEY, customer_id text NOT NULL, order_ts timestamptz NOT NULL, status text NOT NULL,
  amount double precision NOT NULL, currency text NOT NULL, quantity bigint NOT NULL, discount double precision,
  channel text, country text NOT NULL, email text, updated_at timestamptz)
"""
# Valid orders for the packaged contract: each column's value as a function of the key g.
_EXPRESSIONS = {
    "order_id": "g",
    "customer_id": "'C' || lpad((g %% 1000000)::text, 6, '0')",
    "order_ts": "timestamptz '2026-03-01 00:00+00' + g * interval '1 minute'",
    "status": "(ARRAY['placed','paid','shipped','delivered'])[1 + g %% 4]",
    "amount": "round(((g * 37) %% 90000) / 7.0, 2)::float8",
    "currency": "(ARRAY['EUR','USD','GBP','CHF'])[1 + g %% 4]",
    "quantity": "1 + g %% 40",
    "discount": "CASE WHEN g %% 3 = 0 THEN NULL ELSE (g %% 10) / 10.0 END",
    "channel": "(ARRAY['web','app','store','phone'])[1 + g %% 4]",
    "country": "(ARRAY['DE','FR','NL','AT'])[1 + g %% 4]",
    "email": "'buyer' || g || '@example.com'",
    "updated_at": "clock_timestamp()",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class DrillDatabase:
    """The drill's source table on its private server, and the last time the drill wrote to it."""

    server: PgServer
    contract: Contract
    database: str = DATABASE
    slot: str = SLOT
    last_write_at: datetime | None = None
    frozen: Rows | None = None  # the source as the lake must hold it, once a breaking change stopped the capture
    frozen_write_at: datetime | None = None
    _next_id: int = 1
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def table(self) -> str:
        return self.contract.name

    def url(self) -> str:
        """The connection of ``ingest-table`` runs (its sessions are named ``sluice`` by Sluice itself)."""
        return self.server.url(self.database)

    def capture_dsn(self) -> str:
        """The libpq URL of ``capture-changes`` runs, their sessions named ``sluice`` like every Sluice session."""
        return self.server.url(self.database, application_name=APPLICATION_NAME)

    def connect(self, *, application: str = WRITER) -> psycopg.Connection[Any]:
        import psycopg

        return psycopg.connect(self.server.url(self.database, application_name=application), autocommit=True)

    def _ids(self, n: int) -> tuple[int, int]:
        with self._lock:
            first = self._next_id
            self._next_id += n
        return first, first + n - 1

    def _wrote(self) -> None:
        self.last_write_at = utcnow()

    def insert(self, rows: int) -> int:
        """``rows`` new orders in one transaction; returns the rows inserted."""
        first, last = self._ids(rows)
        with self.connect() as conn:
            present = [
                str(r[0])
                for r in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = %s", (self.table,)
                ).fetchall()
            ]
            names = [c for c in _EXPRESSIONS if c in present]
            conn.execute(
                f"INSERT INTO {self.table} ({', '.join(names)}) "
                f"SELECT {', '.join(_EXPRESSIONS[c] for c in names)} FROM generate_series(%s::bigint, %s::bigint) g",
                (first, last),
            )
        self._wrote()
        return rows

    def update(self, every: int, *, status: str = "shipped") -> int:
        """Ship every ``every``-th order and change its amount, in one transaction; returns the rows updated."""
        with self.connect() as conn:
            done = conn.execute(
                f"UPDATE {self.table} SET status = %s, amount = amount + 1, updated_at = clock_timestamp() "
                "WHERE order_id %% %s = 0",
                (status, every),
            ).rowcount
        self._wrote()
        return done

    def delete(self, every: int, *, offset: int = 1) -> int:
        """Delete every ``every``-th order (from ``offset``), in one transaction; returns the rows deleted."""
        with self.connect() as conn:
            done = conn.execute(
                f"DELETE FROM {self.table} WHERE order_id %% %s = %s",
                (every, offset % every),
            ).rowcount
        self._wrote()
        return done

    def write_round(self, rows: int) -> int:
        """Inserts, then updates and deletes among them: the changes one round of the application makes."""
        first, _ = self._ids(0)
        made = self.insert(rows)
        with self.connect() as conn:
            made += conn.execute(
                f"UPDATE {self.table} SET status = 'paid', updated_at = clock_timestamp() "
                "WHERE order_id >= %s AND order_id %% 3 = 0",
                (first,),
            ).rowcount
            made += conn.execute(
                f"DELETE FROM {self.table} WHERE order_id >= %s AND order_id %% 7 = 0",
                (first,),
            ).rowcount
        self._wrote()
        return made

    def alter(self, statement: str) -> None:
        """Run one ``ALTER TABLE`` statement on the source table (``statement`` follows the table's name)."""
        with self.connect() as conn:
            conn.execute(f"ALTER TABLE {self.table} {statement}")
        self._wrote()

    def rows(self) -> Rows:
        """The source table by primary key, over the contract's columns (every one must still exist)."""
        columns = ", ".join(self.contract.column_names)
        with self.connect() as conn:
            cur = conn.execute(f"SELECT {columns} FROM {self.table}")
            names = [d.name for d in cur.description or []]
            found, _ = keyed((dict(zip(names, r, strict=True)) for r in cur.fetchall()), self.contract)
        return found

    def freeze(self) -> Rows:
        """Remember the source as it is now: what the lake must hold once a breaking change stops the capture."""
        self.frozen, self.frozen_write_at = self.rows(), self.last_write_at
        return self.frozen

    def watch(self, found: Callable[[list[str]], bool], timeout: float, poll_s: float = 0.005) -> list[str]:
        """Poll the queries of the sessions named ``sluice`` until ``found(queries)``; ``[]`` after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self.connect(application="drill-judge") as conn:
            while time.monotonic() < deadline:
                queries = [
                    str(r[0] or "")
                    for r in conn.execute(
                        "SELECT query FROM pg_stat_activity WHERE application_name = %s", (APPLICATION_NAME,)
                    ).fetchall()
                ]
                if found(queries):
                    return queries
                time.sleep(poll_s)
        return []

    def terminate_sessions(self, application: str = APPLICATION_NAME) -> list[int]:
        """``pg_terminate_backend`` every session named ``application``; the pids it ended."""
        with self.connect(application="drill-fault") as conn:
            pids = [
                int(r[0])
                for r in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND pid <> pg_backend_pid()",
                    (application,),
                ).fetchall()
            ]
            ended = conn.execute("SELECT pid FROM unnest(%s::int[]) pid WHERE pg_terminate_backend(pid)", (pids,))
            return [int(r[0]) for r in ended.fetchall()]

    def restart(self) -> None:
        self.server.restart()

    def slot_state(self) -> tuple[int | None, int]:
        """The slot's confirmed position and the changes it still holds for the table (peeked, nothing consumed)."""
        from sluice.sources.cdc.positions import parse_lsn

        with self.connect(application="drill-judge") as conn:
            row = conn.execute(
                "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s", (self.slot,)
            ).fetchone()
            (pending,) = conn.execute(
                "SELECT count(*) FROM pg_logical_slot_peek_changes(%s, NULL, NULL, 'format-version', '2', "
                "'add-tables', %s)",
                (self.slot, f"public.{self.table}"),
            ).fetchone() or (0,)
        confirmed = parse_lsn(str(row[0])) if row and row[0] else None
        return confirmed, int(pending)

    def close(self) -> None:
        self.server.stop()


def _create(server: PgServer, contract: Contract) -> DrillDatabase:
    import psycopg

    with psycopg.connect(server.url(), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {DATABASE}")
    db = DrillDatabase(server, contract)
    with db.connect() as conn:
        conn.execute(DDL.replace("orders", contract.name, 1))
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'wal2json')", (db.slot,))
    return db


def ensure_database(stack: DrillStack) -> DrillDatabase:
    """The drill's database source, started on first use (the stack stops it with everything else)."""
    with stack.lock:
        if stack.database is None:
            from sluice.settings import get_settings
            from sluice.validate.contracts import find_contract

            contract = find_contract(stack.dataset, get_settings().contracts_root())
            server = start_server()
            try:
                stack.database = _create(server, contract)
            except Exception:
                server.stop()
                raise
        found: DrillDatabase = stack.database
        return found


def database_of(stack: DrillStack) -> DrillDatabase:
    """The drill's database source; ``ChaosError`` when it never started."""
    if stack.database is None:
        raise ChaosError("the drill has no database source", hint="a database drill writes to it first")
    found: DrillDatabase = stack.database
    return found


class Writer:
    """An application writing small transactions (an insert, every third one an update) until stopped.

    A write the server refuses (it is restarting, the session was cut) is
    tried again on a new connection: the table is judged as it is, not by
    what the writer thinks it wrote.
    """

    def __init__(self, db: DrillDatabase, every_s: float = 0.02) -> None:
        self.db, self.every_s = db, every_s
        self.written = 0
        self.refused = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="drill-writer", daemon=True)

    def start(self) -> Writer:
        self._thread.start()
        return self

    def _run(self) -> None:
        import psycopg

        n = 0
        while not self._stop.is_set():
            try:
                self.db.insert(1)
                if n % 3 == 2:
                    self.db.update(97 + n % 5)
                self.written += 1
            except psycopg.Error:
                self.refused += 1
                time.sleep(0.2)
            n += 1
            self._stop.wait(self.every_s)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(30)
        return self.written
