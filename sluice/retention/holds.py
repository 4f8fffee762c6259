"""Legal holds: a dataset, or one subject in a dataset, whose rows must not be deleted.

A hold on a dataset blocks its retention deletes and every erasure there; a
hold on a subject blocks only that subject's erasure there. Holds live in the
metadata store (``legal_holds``) and stay after release, with the release time.
Functions take a ``Connection`` and never commit (the caller owns the transaction).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sluice.errors import ConfigError
from sluice.paths import ensure_dataset_name
from sluice.retention.subjects import Subject
from sluice.runs.metastore import legal_holds


@dataclass(frozen=True)
class Hold:
    hold_id: str
    dataset: str
    subject_key: str  # "" for a hold on the whole dataset
    subject_hash: str  # sha256 of the subject (sluice.retention.subjects), "" for a dataset hold
    reason: str
    created_at: datetime
    released_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.released_at is None

    @property
    def scope(self) -> str:
        if not self.subject_key:
            return f"dataset {self.dataset}"
        return f"subject {self.subject_key}=sha256:{self.subject_hash[:16]} in {self.dataset}"

    def blocks(self, dataset: str, subjects: Iterable[Subject] | None) -> bool:
        """Whether this hold forbids deleting in ``dataset``: for retention (``subjects=None``) or an erasure."""
        if not self.active or self.dataset != dataset:
            return False
        if not self.subject_key:
            return True
        return subjects is not None and any(
            s.key == self.subject_key and s.digest == self.subject_hash for s in subjects
        )


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


def _hold(row: sa.RowMapping) -> Hold:
    created = _aware(row["created_at"])
    if created is None:  # the column is NOT NULL; a row without it is not one this module wrote
        raise ConfigError(f"legal hold {row['hold_id']} has no creation time", hint="check the legal_holds table")
    return Hold(
        row["hold_id"],
        row["dataset"],
        row["subject_key"],
        row["subject_hash"],
        row["reason"],
        created,
        _aware(row["released_at"]),
    )


def add_hold(conn: Connection, dataset: str, reason: str, subject: Subject | None = None) -> Hold:
    """Place a hold on ``dataset`` (or on ``subject`` in it).

    Raises:
        ConfigError: an invalid dataset name or an empty reason.
    """
    ensure_dataset_name(dataset)
    if not reason.strip():
        raise ConfigError("a legal hold needs a reason", hint="say why, e.g. --reason 'litigation 2026-114'")
    hold = Hold(
        f"hold-{uuid.uuid4().hex[:12]}",
        dataset,
        subject.key if subject else "",
        subject.digest if subject else "",
        reason.strip(),
        datetime.now(timezone.utc),
    )
    conn.execute(
        sa.insert(legal_holds).values(
            hold_id=hold.hold_id,
            dataset=hold.dataset,
            subject_key=hold.subject_key,
            subject_hash=hold.subject_hash,
            reason=hold.reason,
            created_at=hold.created_at,
        )
    )
    return hold


def list_holds(conn: Connection, *, include_released: bool = False) -> list[Hold]:
    query = sa.select(legal_holds).order_by(legal_holds.c.created_at, legal_holds.c.hold_id)
    if not include_released:
        query = query.where(legal_holds.c.released_at.is_(None))
    return [_hold(row) for row in conn.execute(query).mappings()]


def release_hold(conn: Connection, hold_id: str) -> Hold:
    """Release the active hold ``hold_id``.

    Raises:
        ConfigError: no active hold has that id.
    """
    done = conn.execute(
        sa.update(legal_holds)
        .where(legal_holds.c.hold_id == hold_id, legal_holds.c.released_at.is_(None))
        .values(released_at=datetime.now(timezone.utc))
    )
    if done.rowcount != 1:
        raise ConfigError(f"no active legal hold {hold_id!r}", hint="`ops hold list` shows the active holds")
    row = conn.execute(sa.select(legal_holds).where(legal_holds.c.hold_id == hold_id)).mappings().one()
    return _hold(row)


def blocking(holds: Iterable[Hold], dataset: str, subjects: Iterable[Subject] | None = None) -> list[Hold]:
    """The holds among ``holds`` that forbid deleting in ``dataset`` (retention when ``subjects`` is None)."""
    chosen = list(subjects) if subjects is not None else None
    return [h for h in holds if h.blocks(dataset, chosen)]
