"""The capture loop: peek whole transactions, commit them to the lake, only then advance the slot.

One batch:

1. read the LSN the lake holds for the slot (``H``); if the slot is behind
   it (a capture died between its lake commit and the advance), advance the
   slot to ``H`` first: the lake has those changes;
2. ``pg_logical_slot_peek_changes`` up to ``batch_changes`` rows: peeking
   consumes nothing, and the server returns whole transactions only;
3. drop every transaction whose commit LSN is at or below ``H``;
4. commit the rest to the lake, recording the slot and the LSN range ``L``
   in the same commit (:mod:`sluice.lake.commit`);
5. only then ``pg_replication_slot_advance(slot, L)``.

A crash before 4 loses nothing (the slot did not move); a crash between 4
and 5 re-reads those transactions, and 1 and 3 skip them. Transactions that
touch no captured table still move the slot, so its WAL is freed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sluice.lake.table import CommitResult
from sluice.sources.cdc import slots
from sluice.sources.cdc.decode import TableRef, Transaction, to_frame, transactions
from sluice.sources.cdc.errors import SlotInUseError
from sluice.sources.cdc.positions import LakePosition, format_lsn
from sluice.sources.cdc.sink import ChangeSink

BATCH_CHANGES = 10_000


@dataclass(frozen=True)
class CaptureSpec:
    """What to capture: the server, the slot, the table and its contract, and the batch size in decoded rows."""

    dsn: str
    slot: str
    ref: TableRef
    batch_changes: int = BATCH_CHANGES


@dataclass(frozen=True)
class BatchReport:
    """What one batch did: transactions read, skipped (already in the lake), changes committed, slot position.

    ``rows_written`` are new rows (new keys of a keyed table); a keyed table
    also updates, deletes and leaves rows unchanged (:mod:`sluice.lake.resolve`).
    The rest of ``changes`` the lake held already, or a later change of the
    same key in the batch superseded.
    """

    transactions: int
    skipped: int
    changes: int
    rows_written: int
    slot_lsn: int | None
    rows_updated: int = 0
    rows_deleted: int = 0
    rows_unchanged: int = 0
    version: int | None = None  # the table version the batch committed (None: it committed nothing)
    bytes_read: int = 0  # the wal2json text the server decoded for the batch (UTF-8 bytes)

    @property
    def rows_duplicate(self) -> int:
        return self.changes - self.rows_written - self.rows_updated - self.rows_deleted - self.rows_unchanged

    def as_dict(self) -> dict[str, object]:
        return {
            "transactions": self.transactions,
            "skipped": self.skipped,
            "changes": self.changes,
            "rows_written": self.rows_written,
            "rows_updated": self.rows_updated,
            "rows_deleted": self.rows_deleted,
            "rows_unchanged": self.rows_unchanged,
            "slot_lsn": format_lsn(self.slot_lsn) if self.slot_lsn is not None else None,
        }


def _escape(name: str) -> str:
    """A schema or table name as wal2json's add-tables option takes it."""
    return "".join(f"\\{c}" if c in "\\,.* " else c for c in name)


def wal2json_options(ref: TableRef) -> list[str]:
    return [
        "format-version", "2",
        "include-transaction", "true",
        "include-timestamp", "true",
        "include-lsn", "true",
        "add-tables", f"{_escape(ref.schema)}.{_escape(ref.table)}",
    ]  # fmt: skip


def peek(conn: Any, spec: CaptureSpec) -> tuple[list[Transaction], int]:
    """The next whole transactions the slot holds, without consuming them, and the wal2json bytes they took."""
    rows = conn.execute(
        "SELECT lsn::text, xid::text, data FROM pg_logical_slot_peek_changes(%s, NULL, %s, VARIADIC %s::text[])",
        (spec.slot, spec.batch_changes, wal2json_options(spec.ref)),
    ).fetchall()
    size = sum(len(data.encode()) if isinstance(data, str) else len(data) for _, _, data in rows)
    return transactions(rows, spec.ref), size


def _catch_up(conn: Any, spec: CaptureSpec, held: int | None) -> None:
    info = slots.slot_info(conn, spec.slot)
    if info.active_pid is not None and info.active_pid != conn.info.backend_pid:
        raise SlotInUseError(
            f"slot {spec.slot!r} is held by another consumer (pid {info.active_pid})",
            hint="stop the other consumer (see `ops cdc slots`) or wait: this is retried",
        )
    if held is not None and info.confirmed_lsn is not None and held > info.confirmed_lsn:
        slots.advance(conn, spec.slot, held)


def capture_batch(conn: Any, spec: CaptureSpec, sink: ChangeSink) -> BatchReport:
    """Read, commit and acknowledge one batch of whole transactions (see the module doc)."""
    held = sink.position(spec.slot)
    _catch_up(conn, spec, held)
    txns, size = peek(conn, spec)
    if not txns:
        return BatchReport(0, 0, 0, 0, None, bytes_read=size)
    fresh = [t for t in txns if held is None or t.commit_lsn > held]
    frame = to_frame(fresh, spec.ref.contract)
    done = CommitResult(0, 0, 0, None, 0)
    if frame.num_rows:
        done = sink.write(frame, LakePosition(spec.slot, fresh[0].commit_lsn, fresh[-1].commit_lsn))
    moved = slots.advance(conn, spec.slot, txns[-1].commit_lsn)
    return BatchReport(
        len(txns),
        len(txns) - len(fresh),
        frame.num_rows,
        done.rows_written,
        moved,
        done.rows_updated,
        done.rows_deleted,
        done.rows_unchanged,
        version=done.version,
        bytes_read=size,
    )


def capture(
    spec: CaptureSpec,
    sink: ChangeSink,
    *,
    max_batches: int | None = None,
    idle_stop: bool = True,
    idle_sleep_s: float = 1.0,
    heartbeat_bytes: int = 1 << 20,
    on_batch: Callable[[BatchReport], None] | None = None,
) -> list[BatchReport]:
    """Capture batches until the slot has nothing more (``idle_stop``) or ``max_batches`` were read.

    With ``idle_stop=False`` it waits ``idle_sleep_s`` when idle and goes on
    (a long-running capture); a heartbeat is then written whenever the slot
    lags ``heartbeat_bytes`` or more with nothing to read, so a quiet database still frees its WAL.
    """
    reports: list[BatchReport] = []
    with slots.connect(spec.dsn, spec.slot) as conn:
        slots.check_server(conn)
        while max_batches is None or len(reports) < max_batches:
            report = capture_batch(conn, spec, sink)
            if report.transactions:
                reports.append(report)
                if on_batch is not None:
                    on_batch(report)
                continue
            if idle_stop:
                break
            info = slots.slot_info(conn, spec.slot)
            if info.lag_bytes is not None and info.lag_bytes >= heartbeat_bytes:
                slots.heartbeat(conn)
            time.sleep(idle_sleep_s)
    return reports
