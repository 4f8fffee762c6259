"""What became of quarantined rows: replayed, released or discarded, one decision per row, in the metadata store.

A quarantined row is named by its row id, ``<batch id>:<source row>`` (the
batch it was read in and its line or record number there), which
:func:`ensure_row_id` checks. The ledger holds at most one decision per
dataset and row id (its primary key): a row replayed or released into the
lake, or discarded by a steward, is never replayed again. The lake commit
that lands a row comes first and the ledger row second; a replay that finds a
row in the lake without its ledger row (a process stopped in between) records
it then (:mod:`sluice.lake.replay`), so a row lands once either way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sluice.errors import ConfigError

ROW_ID = re.compile(r"sluice-[0-9a-f]{32}:[0-9]{1,18}")
"""A row id: the batch id (:func:`sluice.sources.files.batch_id`) and the row's number in it."""

ledger_metadata = sa.MetaData()

quarantine_decisions = sa.Table(
    "quarantine_decisions",
    ledger_metadata,
    sa.Column("dataset", sa.String(128), primary_key=True),
    sa.Column("row_id", sa.String(80), primary_key=True),
    sa.Column("decision", sa.String(16), nullable=False),
    sa.Column("run_id", sa.String(64), nullable=False, default=""),
    sa.Column("lake_version", sa.Integer),
    sa.Column("actor", sa.String(128), nullable=False, default=""),
    sa.Column("note", sa.Text, nullable=False, default=""),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
)


class Decision(StrEnum):
    REPLAYED = "replayed"  # re-validated against the contract and committed
    RELEASED = "released"  # committed as it is by a steward
    DISCARDED = "discarded"  # never to be replayed


@dataclass(frozen=True)
class RowDecision:
    """One row's decision, as the ledger records it."""

    dataset: str
    row_id: str
    decision: Decision
    run_id: str = ""
    lake_version: int | None = None
    actor: str = ""
    note: str = ""


class UnknownRowError(ConfigError):
    """A row id that is malformed, or names no quarantined row of the dataset."""


def ensure_row_id(text: str) -> str:
    """``text`` if it is a well-formed row id.

    Raises:
        UnknownRowError: it is not ``sluice-<32 hex digits>:<row number>``.
    """
    if not isinstance(text, str) or ROW_ID.fullmatch(text) is None:
        raise UnknownRowError(
            f"{text[:80]!r} is not a quarantine row id",
            hint="row ids look like sluice-<32 hex digits>:<row>; `ops quarantine list -o json` shows each row_id",
        )
    return text


def row_id(batch: str, source_row: int) -> str:
    """The id of row ``source_row`` of batch ``batch``."""
    return f"{batch}:{source_row}"


def split_row_id(text: str) -> tuple[str, int]:
    """The batch id and the row number of a well-formed row id."""
    batch, _, row = ensure_row_id(text).rpartition(":")
    return batch, int(row)


CREATE_ATTEMPTS = 5
_created: set[str] = set()


def ledger(engine: Engine) -> Engine:
    """``engine`` with the ledger's table created when missing (once per store and process).

    Processes that create it at once: one wins, the others find it on their next check.
    """
    if engine.url.render_as_string() in _created:
        return engine
    for attempt in range(CREATE_ATTEMPTS):
        try:
            ledger_metadata.create_all(engine, checkfirst=True)
            break
        except sa.exc.DBAPIError:  # another process created it between the check and the create
            if attempt == CREATE_ATTEMPTS - 1:
                raise
    _created.add(engine.url.render_as_string())
    return engine


def decided(conn: Connection, dataset: str, ids: Iterable[str] | None = None) -> dict[str, Decision]:
    """The decisions recorded for ``dataset`` (only of ``ids`` when given), by row id."""
    c = quarantine_decisions.c
    query = sa.select(c.row_id, c.decision).where(c.dataset == dataset)
    wanted = sorted(set(ids)) if ids is not None else None
    if wanted is not None:
        found: dict[str, Decision] = {}
        for start in range(0, len(wanted), 500):
            part = query.where(c.row_id.in_(wanted[start : start + 500]))
            found.update({r.row_id: Decision(r.decision) for r in conn.execute(part)})
        return found
    return {r.row_id: Decision(r.decision) for r in conn.execute(query)}


def record(conn: Connection, decisions: list[RowDecision]) -> int:
    """Record ``decisions`` whose rows have none yet; returns how many were recorded.

    A row that has a decision keeps it: a second replay, release or discard of it changes nothing.
    """
    if not decisions:
        return 0
    by_dataset: dict[str, list[RowDecision]] = {}
    for d in decisions:
        by_dataset.setdefault(d.dataset, []).append(d)
    now = datetime.now(timezone.utc)
    added = 0
    for dataset, mine in by_dataset.items():
        have = decided(conn, dataset, [d.row_id for d in mine])
        fresh = {d.row_id: d for d in mine if d.row_id not in have}
        if fresh:
            conn.execute(
                sa.insert(quarantine_decisions),
                [
                    {
                        "dataset": d.dataset,
                        "row_id": d.row_id,
                        "decision": d.decision.value,
                        "run_id": d.run_id,
                        "lake_version": d.lake_version,
                        "actor": d.actor,
                        "note": d.note,
                        "decided_at": now,
                    }
                    for d in fresh.values()
                ],
            )
            added += len(fresh)
    return added
