"""Reading the hold table for a release: only the columns and rows a step needs, one record batch at a time.

A release reads the open rows' batch, source row, hold times and reference columns (the
filter ``_release IS NULL`` pushed down to the Delta scan) to decide them, then each of its
releases' rows by release id, so its memory follows the rows it decides and takes, not the
hold table's size.

Rows of a batch the lake does not record are not decided: the batch may still commit. They are
purged (:func:`purge_uncommitted`) once it is certain it never will: the release holds the
dataset's lease (a writer stores a batch's held rows and commits it in one hold of the lease),
and the rows were last stored longer ago than the staging stale hours (so no writer that lost
its lease while paused is still on its way to that commit). A later read of the same source
rows stores them again.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from deltalake import DeltaTable

from sluice.errors import LakeError
from sluice.lake.held_store import EXPIRED, HELD_AT, RELEASE, STORED_AT, TS
from sluice.lake.table import lake_dataset
from sluice.validate.chunk import BATCH_COL, ROW_COL
from sluice.validate.contracts import Contract
from sluice.validate.references import ParentKeys, ReferencePolicy, orphan_mask

SCAN_ROWS = 131_072  # rows per record batch read from the hold table
_BATCH_ID = re.compile(r"sluice-[0-9a-f]{32}")
log = logging.getLogger(__name__)


def scan(
    table: DeltaTable, columns: list[str] | None, where: ds.Expression | None, options: dict[str, str]
) -> Iterator[pa.Table]:
    """The hold table's rows matching ``where`` (pushed down to the scan), ``columns`` only, in record batches."""
    names = table.schema().to_arrow().names
    cols = names if columns is None else [c for c in dict.fromkeys(columns) if c in names]
    for rb in lake_dataset(table, options or None).to_batches(
        columns=cols, filter=where, batch_size=SCAN_ROWS, batch_readahead=2, fragment_readahead=1
    ):
        if rb.num_rows:
            yield pa.Table.from_batches([rb])


def equals(table: DeltaTable, column: str, value: str, options: dict[str, str]) -> ds.Expression:
    """``column == value`` for a scan of ``table`` (files may store text as ``string_view``: read as one type)."""
    kind = lake_dataset(table, options or None).schema.field(column).type
    return ds.field(column).cast(kind) == pa.scalar(value, pa.string()).cast(kind)


def decide(rows: pa.Table, contract: Contract, parents: ParentKeys, now: datetime) -> tuple[np.ndarray, np.ndarray]:
    """Per open held row: whether its parents have all landed, and whether it waited past a timeout."""
    orphan = np.zeros(rows.num_rows, dtype=bool)
    expired = np.zeros(rows.num_rows, dtype=bool)
    held_at = rows.column(HELD_AT)
    for ref in contract.references:
        if ref.policy is not ReferencePolicy.HOLD:
            continue
        mask = orphan_mask(rows, ref, parents.get(ref.to))
        due = pc.less_equal(held_at, pa.scalar(now - ref.hold_timeout, TS)).to_numpy(zero_copy_only=False)
        orphan |= mask
        expired |= mask & due
    return ~orphan, expired


@dataclass
class OpenRows:
    """What a scan of the open rows found: the decided ones, and the latest store time of uncommitted batches."""

    decided: list[pa.Table] = field(default_factory=list)  # _batch_id, _source_row, _expired
    uncommitted: dict[str, datetime] = field(default_factory=dict)

    def marks(self) -> pa.Table | None:
        return pa.concat_tables(self.decided) if self.decided else None


def open_rows(
    table: DeltaTable,
    recorded: Callable[[str], bool],
    contract: Contract,
    parents: ParentKeys,
    now: datetime,
    options: dict[str, str],
) -> OpenRows:
    """Decide the open rows of committed batches at ``now``; ``recorded(batch_id)``: the lake records the batch."""
    known: dict[str, bool] = {}
    refs = [c for r in contract.references if r.policy is ReferencePolicy.HOLD for c in r.columns]
    found = OpenRows()
    for rows in scan(table, [BATCH_COL, ROW_COL, HELD_AT, STORED_AT, *refs], ds.field(RELEASE).is_null(), options):
        batch = rows.column(BATCH_COL)
        for b in pc.unique(batch).to_pylist():
            if b not in known:
                known[b] = recorded(b)
        counted = pa.array([b for b, yes in known.items() if yes], pa.string())
        mask = pc.is_in(batch, value_set=counted)
        _note_uncommitted(rows.filter(pc.invert(mask)), found.uncommitted)
        cand = rows.filter(mask)
        landed, expired = decide(cand, contract, parents, now)
        pick = landed | expired
        if pick.any():
            marks = cand.select([BATCH_COL, ROW_COL]).filter(pa.array(pick))
            found.decided.append(marks.append_column(EXPIRED, pa.array((expired & ~landed)[pick])))
    return found


def _note_uncommitted(rows: pa.Table, seen: dict[str, datetime]) -> None:
    if not rows.num_rows:
        return
    at = rows.column(STORED_AT) if STORED_AT in rows.column_names else rows.column(HELD_AT)
    at = pc.coalesce(at, rows.column(HELD_AT))
    latest = pa.table({"b": rows.column(BATCH_COL), "at": at}).group_by("b").aggregate([("at", "max")])
    for b, t in zip(latest.column("b").to_pylist(), latest.column("at_max").to_pylist(), strict=True):
        seen[b] = max(t, seen.get(b, t))


def release_ids(table: DeltaTable, options: dict[str, str]) -> list[str]:
    """The release ids marked in the hold table (the ``_release`` column of marked rows only)."""
    found: set[str] = set()
    for rows in scan(table, [RELEASE], ds.field(RELEASE).is_valid(), options):
        found.update(pc.unique(rows.column(RELEASE)).to_pylist())
    return sorted(found)


def purge_uncommitted(uri: str, seen: dict[str, datetime], cutoff: datetime, options: dict[str, str]) -> int:
    """Delete the open rows of batches in ``seen`` last stored at or before ``cutoff``; returns rows deleted.

    Call it under the dataset's lease, with ``seen`` holding only batches the lake does not record.
    """
    gone = sorted(b for b, at in seen.items() if at <= cutoff)
    if not gone:
        return 0
    listed = ", ".join(f"'{ensure_batch_id(b)}'" for b in gone)
    table = DeltaTable(uri, storage_options=options or None)
    done = table.delete(predicate=f'"{RELEASE}" IS NULL AND "{BATCH_COL}" IN ({listed})')
    n = int(done.get("num_deleted_rows", 0) or 0)
    log.info("%s: purged %d held rows of %d batches that never committed", uri, n, len(gone))
    return n


def ensure_batch_id(batch: str) -> str:
    """``batch`` if it is a batch id, the only text a purge predicate is built from."""
    if not _BATCH_ID.fullmatch(batch):
        raise LakeError(f"{batch!r} in a hold table is not a batch id", hint="the hold table was written by hand")
    return batch


def stale_cutoff(now: datetime, stale_after: timedelta | None) -> datetime | None:
    """The store time at or before which an uncommitted batch's rows are purged (None: never)."""
    return None if stale_after is None else now - stale_after
