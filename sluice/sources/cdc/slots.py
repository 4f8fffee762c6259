"""Replication slots through SQL functions any driver can call: create, inspect, advance, drop; lag; heartbeat.

Every server error becomes a :class:`~sluice.sources.cdc.errors.CdcError`
whose hint says what to change: ``wal_level`` not ``logical``, a missing slot,
a slot held by another consumer, wal2json missing or not allowed as an output
plugin, missing privileges.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sluice.errors import SluiceError
from sluice.sources.cdc.errors import CdcError, CdcUnreachableError, SlotInUseError
from sluice.sources.cdc.positions import format_lsn, parse_lsn
from sluice.sources.database_tls import tls_error

if TYPE_CHECKING:
    import psycopg

PLUGIN = "wal2json"
HEARTBEAT_PREFIX = "sluice.heartbeat"


@dataclass(frozen=True)
class SlotInfo:
    """One replication slot and how far its consumer lags the server's WAL."""

    name: str
    plugin: str
    database: str
    active_pid: int | None
    confirmed_lsn: int | None  # confirmed_flush_lsn: decoding restarts after here
    current_lsn: int  # pg_current_wal_lsn() when read
    lag_bytes: int | None
    lag_seconds: float | None  # since the last transaction the slot still has to deliver committed; 0 when none

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "plugin": self.plugin,
            "database": self.database,
            "active_pid": self.active_pid,
            "confirmed_lsn": format_lsn(self.confirmed_lsn) if self.confirmed_lsn is not None else None,
            "current_lsn": format_lsn(self.current_lsn),
            "lag_bytes": self.lag_bytes,
            "lag_seconds": self.lag_seconds,
        }


def _translate(exc: Exception, slot: str) -> SluiceError:
    """A psycopg error as a one-line CdcError with a hint."""
    import psycopg

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, psycopg.OperationalError):
        return CdcUnreachableError(
            f"cannot reach PostgreSQL: {text}", hint="check the host, port and that the server runs; retried"
        )
    low = text.lower()
    if "wal_level" in low:
        return CdcError(
            f"logical decoding is off: {text}",
            hint="set wal_level = logical in postgresql.conf and restart the server",
        )
    if "is active for pid" in low:
        return SlotInUseError(
            f"slot {slot!r} is held by another consumer: {text}",
            hint="stop the other consumer (see `ops cdc slots`, column active_pid) or wait: this is retried",
        )
    if "does not exist" in low and "replication slot" in low:
        return CdcError(
            f"replication slot {slot!r} does not exist",
            hint=f"create it: the capture-changes flow does with create_slot=true, or SELECT "
            f"pg_create_logical_replication_slot('{slot}', 'wal2json')",
        )
    if "may not be used as an output plugin" in low:
        return CdcError(
            f"the server does not allow wal2json as an output plugin: {text}",
            hint="add wal2json to output_plugin_libraries in postgresql.conf and reload the server",
        )
    if "could not access file" in low and PLUGIN in low:
        return CdcError(
            "wal2json is not installed on the PostgreSQL server",
            hint="install it on the server: apt-get install postgresql-15-wal2json (`make system-deps`)",
        )
    if isinstance(exc, psycopg.errors.InsufficientPrivilege) or "permission denied" in low or "must be" in low:
        return CdcError(
            f"permission denied: {text}",
            hint="the capture role needs REPLICATION (ALTER ROLE <name> REPLICATION) and SELECT on the table",
        )
    return CdcError(f"logical decoding failed on slot {slot!r}: {text}", hint="see the server log for the cause")


@contextlib.contextmanager
def connect(dsn: str, slot: str = "") -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection to ``dsn``; every server error leaves as a CdcError."""
    import psycopg

    try:
        conn = psycopg.connect(dsn, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:  # a failed TLS handshake is the connection's settings, not the network
        raise (tls_error(exc, "PostgreSQL") or _translate(exc, slot)) from None
    try:
        with conn:
            yield conn
    except psycopg.Error as exc:
        raise _translate(exc, slot) from None


def check_server(conn: psycopg.Connection[Any]) -> None:
    """Refuse a server where logical decoding cannot run, before touching any slot."""
    row = conn.execute("SHOW wal_level").fetchone()
    level = str(row[0]) if row else "?"
    if level != "logical":
        raise CdcError(
            f"wal_level is {level!r}, logical decoding needs 'logical'",
            hint="set wal_level = logical in postgresql.conf and restart the server",
        )


_SLOTS = """
SELECT s.slot_name, s.plugin, s.database, s.active_pid, s.confirmed_flush_lsn::text, pg_current_wal_lsn()::text
FROM pg_replication_slots s WHERE s.slot_type = 'logical' AND (%(name)s::text IS NULL OR s.slot_name = %(name)s)
ORDER BY s.slot_name
"""


def _lag_seconds(conn: psycopg.Connection[Any], info: SlotInfo) -> float | None:
    """Seconds since the oldest commit the slot still has to deliver (0 when it has none)."""
    if info.lag_bytes is None or info.plugin != PLUGIN or info.active_pid is not None:
        return None
    import psycopg

    try:
        row = conn.execute(
            "SELECT data FROM pg_logical_slot_peek_changes(%s, NULL, 1, 'format-version', '2', "
            "'include-transaction', 'true', 'include-timestamp', 'true', 'filter-tables', '*.*')",
            (info.name,),
        ).fetchone()
    except psycopg.Error:  # a consumer took the slot meanwhile: seconds unknown this time
        return None
    if row is None:
        return 0.0
    stamp = json.loads(row[0]).get("timestamp")
    if not stamp:
        return None
    started = datetime.fromisoformat(stamp)
    now = conn.execute("SELECT clock_timestamp()").fetchone()
    return max(0.0, (now[0] - started).total_seconds()) if now else None


def list_slots(conn: psycopg.Connection[Any], name: str | None = None, *, with_seconds: bool = True) -> list[SlotInfo]:
    """The logical slots of the server (or the one named), with lag in bytes and, if asked, seconds."""
    found = []
    for slot, plugin, database, pid, confirmed, current in conn.execute(_SLOTS, {"name": name}).fetchall():
        conf = parse_lsn(confirmed) if confirmed else None
        cur = parse_lsn(current)
        info = SlotInfo(slot, plugin, database, pid, conf, cur, None if conf is None else cur - conf, None)
        if with_seconds:
            info = replace(info, lag_seconds=_lag_seconds(conn, info))
        found.append(info)
    return found


def slot_info(conn: psycopg.Connection[Any], name: str, *, with_seconds: bool = False) -> SlotInfo:
    """One slot.

    Raises:
        CdcError: there is no logical slot of that name.
    """
    found = list_slots(conn, name, with_seconds=with_seconds)
    if not found:
        import psycopg

        raise _translate(psycopg.Error(f'replication slot "{name}" does not exist'), name)
    return found[0]


def create_slot(conn: psycopg.Connection[Any], name: str) -> bool:
    """Create the wal2json slot ``name`` unless it exists; True when created."""
    check_server(conn)
    if list_slots(conn, name, with_seconds=False):
        return False
    conn.execute("SELECT pg_create_logical_replication_slot(%s, %s)", (name, PLUGIN))
    return True


def drop_slot(conn: psycopg.Connection[Any], name: str) -> None:
    """Drop the slot ``name`` (the server then frees the WAL it held).

    Raises:
        CdcError: no such slot, or another consumer holds it.
    """
    slot_info(conn, name)
    conn.execute("SELECT pg_drop_replication_slot(%s)", (name,))


def advance(conn: psycopg.Connection[Any], name: str, lsn: int) -> int:
    """Move the slot's confirmed position to ``lsn`` (never back); return where it is now.

    A slot another capture already moved past ``lsn`` stays where it is: the server refuses to move a slot
    back, and that is no error here.
    """
    import psycopg

    current = confirmed_lsn(conn, name)
    if current is not None and current >= lsn:
        return current
    try:
        row = conn.execute(
            "SELECT end_lsn::text FROM pg_replication_slot_advance(%s, %s::pg_lsn)", (name, format_lsn(lsn))
        ).fetchone()
    except psycopg.Error as exc:
        if "minimum is" not in str(exc):
            raise
        return confirmed_lsn(conn, name) or lsn
    return parse_lsn(str(row[0])) if row and row[0] else lsn


def confirmed_lsn(conn: psycopg.Connection[Any], name: str) -> int | None:
    """The slot's confirmed flush position, or None when the slot has none (or does not exist)."""
    row = conn.execute(
        "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s", (name,)
    ).fetchone()
    return parse_lsn(str(row[0])) if row and row[0] else None


def heartbeat(conn: psycopg.Connection[Any], content: str = "") -> int:
    """Write a transactional logical message, so a slot on a quiet database has a commit to advance past.

    Returns the message's LSN.
    """
    row = conn.execute(
        "SELECT pg_logical_emit_message(true, %s, %s)::text", (HEARTBEAT_PREFIX, content or "beat")
    ).fetchone()
    return parse_lsn(str(row[0])) if row else 0
