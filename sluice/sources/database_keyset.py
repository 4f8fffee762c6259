"""Incremental extraction by a cursor column, positioned by keyset on (cursor, primary key).

A run reads, inside one snapshot, the rows after the previous run's position
and up to the newest (cursor, primary key) pair it sees, which becomes the
batch's position. Ties on the cursor value are not lost: the position is the
pair, and the next run starts at or before the cursor value, never after it.

**Look-back.** A row committed late with a cursor value before the previous
position (a long transaction's ``updated_at``) would be skipped, so a run
starts ``lookback`` before the previous cursor value (seconds for a
timestamp cursor, days rounded up for a date, units for an integer one) and
re-reads that span; the key-based apply keeps the overlap harmless (rows
already in the lake are counted as duplicates). The position also records a
fingerprint of the rows in the look-back window before its end: a rerun that
finds nothing new has the same end and the same window, hence the same batch
id, and commits nothing; a late row inside the window changes the
fingerprint, and its batch is committed.

**Completeness.** Under a contract's ``completeness`` policy the read
counts its cursor interval (``count(*)``, and the ``sum:`` column) in the
transaction that plans it, the snapshot its rows are read in
(:mod:`sluice.sources.database_totals`): the plan carries the source's
control totals, which staging compares with the rows read.

**Deletes are invisible** to a cursor: a deleted row has no cursor value to
find. Change data capture covers them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pyarrow as pa

from sluice.errors import ConfigError
from sluice.runs.completeness import ControlTotals
from sluice.sources.database import Dialect
from sluice.sources.database_connect import mariadb_connect, pg_connect
from sluice.sources.database_mariadb import fetch_mariadb
from sluice.sources.database_read import (
    TableSpec,
    exported,
    read_pg,
    translated,
)
from sluice.sources.database_totals import cursor_totals, where_totals
from sluice.sources.database_types import Kind, SourceColumn

POSITION_PREFIX = "keyset "


def encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"ts": value.isoformat()}
    if isinstance(value, date):
        return {"date": value.isoformat()}
    if isinstance(value, Decimal):
        return {"dec": str(value)}
    return value


def decode(value: Any) -> Any:
    if isinstance(value, dict):
        if "ts" in value:
            return datetime.fromisoformat(value["ts"])
        if "date" in value:
            return date.fromisoformat(value["date"])
        if "dec" in value:
            return Decimal(value["dec"])
    return value


@dataclass(frozen=True)
class Position:
    """A (cursor value, primary key values) pair."""

    cursor: Any
    key: tuple[Any, ...]

    def values(self) -> tuple[Any, ...]:
        return (self.cursor, *self.key)


@dataclass(frozen=True)
class KeysetPlan:
    """One run's read: from ``read_from`` (cursor value, inclusive; None: the start) or after ``after``, to ``end``."""

    after: Position | None
    read_from: Any | None
    end: Position | None  # None: no rows at all
    window: str
    lsn: int | None = None  # the WAL position its rows take as _lsn (:mod:`sluice.sources.database_read`)
    totals: ControlTotals | None = None  # the interval's count(*) in the read's snapshot (completeness policy)

    def position(self) -> str:
        end = [encode(v) for v in self.end.values()] if self.end else None
        return POSITION_PREFIX + json.dumps({"to": end, "window": self.window}, sort_keys=True)


def parse_position(text: str) -> Position | None:
    """The end of a batch's position, or None for a position of another kind."""
    if not text.startswith(POSITION_PREFIX):
        return None
    end = json.loads(text[len(POSITION_PREFIX) :]).get("to")
    if not end:
        return None
    values = [decode(v) for v in end]
    return Position(values[0], tuple(values[1:]))


def step_back(value: Any, kind: Kind, lookback: float) -> Any:
    """``value`` moved back by the look-back window (0: not moved)."""
    if lookback <= 0:
        return value
    if kind is Kind.INTEGER:
        return value - math.ceil(lookback)
    if kind is Kind.DATE and not isinstance(value, datetime):
        return value - timedelta(days=math.ceil(lookback / 86400))
    return value - timedelta(seconds=lookback)


def _literal(dialect: Dialect, value: Any) -> str:
    if dialect is Dialect.POSTGRESQL:
        from psycopg import sql

        return sql.Literal(value).as_string(None)
    import pymysql.converters

    if isinstance(value, datetime) and value.tzinfo is not None:  # the session's time zone is +00:00
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return str(pymysql.converters.escape_item(value, "utf8mb4"))


class _Sql:
    """The statements of a keyset read, with values as literals (one snapshot, no prepared statements)."""

    def __init__(self, spec: TableSpec) -> None:
        self.spec = spec
        self.cols = [spec.q(c) for c in (spec.cursor or "", *spec.contract.primary_key)]
        self.tuple = f"({', '.join(self.cols)})"

    def row(self, pos: Position) -> str:
        return "(" + ", ".join(_literal(self.spec.dialect, v) for v in pos.values()) + ")"

    def lower(self, after: Position | None, read_from: Any | None) -> str:
        if read_from is not None:
            return f"{self.cols[0]} >= {_literal(self.spec.dialect, read_from)}"
        if after is not None:
            return f"{self.tuple} > {self.row(after)}"
        return "1=1"

    def last(self, lower: str) -> str:
        order = ", ".join(f"{c} DESC" for c in self.cols)
        return f"SELECT {', '.join(self.cols)} FROM {self.spec.relation()} WHERE {lower} ORDER BY {order} LIMIT 1"

    def window(self, start: Any, end: Position) -> str:
        lit = _literal(self.spec.dialect, start)
        return (
            f"SELECT {', '.join(self.cols)} FROM {self.spec.relation()} WHERE {self.cols[0]} >= {lit} "
            f"AND {self.tuple} <= {self.row(end)} ORDER BY {', '.join(self.cols)}"
        )

    def interval(self, lower: str, end: Position) -> str:
        """The condition of the rows a run reads: after its start, up to and including ``end``."""
        return f"{lower} AND {self.tuple} <= {self.row(end)}"

    def data(self, lower: str, end: Position) -> str:
        return f"SELECT {self.spec.select_list()} FROM {self.spec.relation()} WHERE {self.interval(lower, end)}"


def _fingerprint(rows: list[tuple[Any, ...]]) -> str:
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps([encode(v) for v in row], default=str).encode())
        digest.update(b"\n")
    return f"{len(rows)}:{digest.hexdigest()[:16]}"


def _plan(
    query: Callable[[str], list[tuple[Any, ...]]], sql: _Sql, kind: Kind, previous: Position | None, lookback: float
) -> KeysetPlan:
    read_from = step_back(previous.cursor, kind, lookback) if previous is not None and lookback > 0 else None
    lower = sql.lower(previous, read_from)
    found = query(sql.last(lower))
    if not found:
        return KeysetPlan(previous, read_from, None, "0:")
    end = Position(found[0][0], tuple(found[0][1:]))
    window = query(sql.window(step_back(end.cursor, kind, lookback), end))
    return KeysetPlan(previous, read_from, end, _fingerprint(window))


Pages = Callable[[], Iterator[pa.Table]]


def _counted(plan: KeysetPlan, sql: _Sql, count: Callable[[str], ControlTotals]) -> KeysetPlan:
    """The plan with its interval's control totals, when the contract compares them and there are rows to read."""
    if plan.end is None or not sql.spec.contract.completeness.on:
        return plan
    return replace(plan, totals=count(sql.interval(sql.lower(plan.after, plan.read_from), plan.end)))


@contextlib.contextmanager
def keyset_read(
    spec: TableSpec, columns: dict[str, SourceColumn], previous: Position | None, lookback: float
) -> Iterator[tuple[KeysetPlan, Pages]]:
    """The plan of an incremental read and its rows, both in one snapshot held while the caller reads."""
    if spec.cursor is None:
        raise ConfigError("incremental extraction needs a cursor column", hint="pass --cursor updated_at")
    sql, kind = _Sql(spec), columns[spec.cursor].kind
    if spec.dialect is Dialect.POSTGRESQL:
        with translated(spec), pg_connect(spec.url) as conn:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            snapshot_id, _, lsn = exported(spec, conn)
            plan = replace(_plan(lambda q: conn.execute(q).fetchall(), sql, kind, previous, lookback), lsn=lsn)
            plan = _counted(plan, sql, lambda where: where_totals(spec, conn, where))
            lower = sql.lower(plan.after, plan.read_from)
            yield plan, (lambda: read_pg(spec, sql.data(lower, plan.end), snapshot_id) if plan.end else iter(()))
            conn.rollback()
        return
    with translated(spec), contextlib.closing(mariadb_connect(spec.url, streaming=True)) as conn:
        with conn.cursor() as cur:
            cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")

            def query(q: str) -> list[tuple[Any, ...]]:
                cur.execute(q)
                return list(cur.fetchall())

            plan = _plan(query, sql, kind, previous, lookback)
            plan = _counted(plan, sql, lambda where: cursor_totals(spec, cur, where))
            lower = sql.lower(plan.after, plan.read_from)
            yield plan, (lambda: fetch_mariadb(cur, spec, columns, sql.data(lower, plan.end)) if plan.end else iter(()))
        conn.rollback()
