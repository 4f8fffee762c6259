"""Storing held rows: each key pending once in the hold table, however often its source is read.

A source read again (a snapshot of a changed table, an incremental look-back, a
stream batch delivered twice) finds its orphans once more. The hold table keeps one
pending row per lake key (the contract's ``primary_key`` plus the partition date, the
key the lake deduplicates on), so each orphan lands, or is quarantined, once:

- a re-read row equal to the pending one (values and source row) changes nothing, and a
  store in which every row is such leaves the hold table's version as it was;
- a re-read row that differs is the newer version: it replaces the pending row's values,
  and the row keeps its original hold time (``_held_at``: the ``hold_timeout`` counts from
  the first time the orphan was held);
- the pending row keeps the batch and source row it was held by while the lake records
  that batch (it counts already); a pending row of a batch the lake does not record takes
  the re-read row's batch and source row, so it counts once that batch commits;
- rows a release has marked (``_release`` set) are not pending: a re-read of such a key is
  stored as a new pending row.

``_stored_at`` is when the row was last stored: a release purges pending rows of a batch
the lake does not record once that is older than the staging stale hours
(:func:`sluice.lake.held.release_held`).

Stores run under the dataset's lease, just before the batch's lake commit, so two runs
storing the same orphans take turns and the second finds the first's rows pending.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from deltalake import DeltaTable, write_deltalake

from sluice.lake.table import lake_dataset, open_table, table_uri
from sluice.validate.chunk import BATCH_COL, PARTITION, ROW_COL
from sluice.validate.contracts import Contract

HELD_AT = "_held_at"
HELD_RUN = "_held_run"
SOURCE_FILE = "_source_file"
RELEASE = "_release"
EXPIRED = "_expired"
STORED_AT = "_stored_at"
HOLD_COLUMNS = (HELD_AT, HELD_RUN, SOURCE_FILE, RELEASE, EXPIRED, STORED_AT)
HOLD_FOLDER = "_sluice_held"
TS = pa.timestamp("us", tz="UTC")
IDENTITY = (BATCH_COL, ROW_COL, SOURCE_FILE, HELD_RUN)  # who held the row: kept while its batch counts
_KEPT = (HELD_AT, RELEASE, EXPIRED)  # never changed by a store


def hold_keys(contract: Contract) -> list[str]:
    """The columns a pending row is unique on: the lake's deduplication key (primary key and date)."""
    return [*contract.primary_key, PARTITION]


def with_hold_columns(held: pa.Table, *, run_id: str, source_file: str) -> pa.Table:
    """A chunk's held rows with the hold columns: held at this moment, by ``run_id``, from ``source_file``, open."""
    n = held.num_rows
    now = pa.scalar(datetime.now(timezone.utc), TS)
    return (
        held.append_column(HELD_AT, pa.repeat(now, n))
        .append_column(HELD_RUN, pa.repeat(run_id, n))
        .append_column(SOURCE_FILE, pa.repeat(source_file, n))
        .append_column(RELEASE, pa.nulls(n, pa.string()))
        .append_column(EXPIRED, pa.repeat(False, n))
        .append_column(STORED_AT, pa.repeat(now, n))
    )


def lake_of(uri: str) -> str:
    """The lake table of the dataset whose hold table is at ``uri`` (``<lake>/_sluice_held/<dataset>``)."""
    root, _, dataset = uri.rstrip("/").rpartition(f"/{HOLD_FOLDER}/")
    return table_uri(root, dataset)


def last_per_key(rows: pa.Table, keys: list[str]) -> pa.Table:
    """``rows`` with one row per key, the last in source order (the newest version read)."""
    if rows.num_rows < 2:
        return rows
    idx = "__sluice_i"
    numbered = rows.append_column(idx, pa.array(np.arange(rows.num_rows, dtype=np.int64)))
    last = numbered.group_by(keys, use_threads=False).aggregate([(idx, "max")]).column(f"{idx}_max")
    if len(last) == rows.num_rows:
        return rows
    return rows.take(pa.array(np.sort(last.to_numpy())))


def store_rows(uri: str, rows: pa.Table, keys: list[str], storage_options: dict[str, str]) -> int:
    """Store held ``rows`` (with :func:`with_hold_columns`) as the module doc says; returns rows added or changed.

    Call it under the dataset's lease, before the lake commit of the batches the rows come from.
    """
    rows = last_per_key(rows, keys)
    table = open_table(uri, storage_options)
    if table is None:
        if rows.num_rows:
            write_deltalake(uri, rows, mode="append", storage_options=storage_options or None)
        return int(rows.num_rows)
    pending = _pending(table, rows, keys, storage_options)
    lake = open_table(lake_of(uri), storage_options)
    rows = changed(rows, pending, keys, lambda b: lake is not None and lake.transaction_version(b) is not None)
    if not rows.num_rows:
        return 0
    on = " AND ".join(f't."{k}" = s."{k}"' for k in keys)
    updates = {c: f's."{c}"' for c in rows.column_names if c not in _KEPT}
    (
        DeltaTable(uri, storage_options=storage_options or None)
        .merge(
            rows,
            predicate=f't."{RELEASE}" IS NULL AND {on}',
            source_alias="s",
            target_alias="t",
            merge_schema=True,  # a contract's new column, or a hold table without ``_stored_at``
        )
        .when_matched_update(updates=updates)
        .when_not_matched_insert_all()
        .execute()
    )
    return int(rows.num_rows)


def _pending(table: DeltaTable, rows: pa.Table, keys: list[str], options: dict[str, str]) -> pa.Table:
    """The pending rows of the hold table whose first key is among ``rows``' (a filter pushed to the scan)."""
    scanned = lake_dataset(table, options or None)
    values = pc.unique(pc.drop_null(rows.column(keys[0]).combine_chunks()))
    kind = scanned.schema.field(keys[0]).type  # files may store text as string_view: compared as one type
    wanted = ds.field(RELEASE).is_null() & ds.field(keys[0]).cast(kind).isin(values.cast(kind))
    names = [c for c in rows.column_names if c in scanned.schema.names]
    return scanned.to_table(columns=names, filter=wanted)


def changed(rows: pa.Table, pending: pa.Table, keys: list[str], counts: Callable[[str], bool]) -> pa.Table:
    """The rows to merge: new keys, and re-read keys whose row differs from the pending one.

    ``counts(batch_id) -> bool``: whether the lake records a batch; a pending row of such a batch
    keeps its identity (:data:`IDENTITY`), which the re-read row then takes before it is compared.
    """
    if not pending.num_rows:
        return rows
    i, j = "__sluice_i", "__sluice_j"
    left = rows.select(keys).append_column(i, pa.array(np.arange(rows.num_rows, dtype=np.int64)))
    right = pending.select(keys).append_column(j, pa.array(np.arange(pending.num_rows, dtype=np.int64)))
    pairs = left.join(right, keys, join_type="inner", use_threads=False).group_by(i).aggregate([(j, "min")])
    if not pairs.num_rows:
        return rows
    ri = pairs.column(i).to_numpy()
    old = pending.take(pairs.column(f"{j}_min"))
    batches = pc.unique(old.column(BATCH_COL)).to_pylist()
    counted = pa.array([b for b in batches if b is not None and counts(b)], pa.string())
    keep = pc.is_in(old.column(BATCH_COL), value_set=counted).to_numpy(zero_copy_only=False)
    order = np.argsort(ri[keep], kind="stable")
    mask = np.zeros(rows.num_rows, dtype=bool)
    mask[ri[keep]] = True
    out = rows
    for c in IDENTITY:
        kept = old.column(c).filter(pa.array(keep)).take(pa.array(order)).cast(rows.schema.field(c).type)
        col = pc.replace_with_mask(rows.column(c).combine_chunks(), pa.array(mask), kept.combine_chunks())
        out = out.set_column(out.schema.get_field_index(c), c, col)
    same = np.ones(len(ri), dtype=bool)
    for c in out.column_names:
        if c in (*_KEPT, HELD_RUN, STORED_AT) or c not in old.column_names:
            continue
        same &= _equal(out.column(c).take(pa.array(ri)), old.column(c))
    drop = np.zeros(out.num_rows, dtype=bool)
    drop[ri[same]] = True
    return out.filter(pa.array(~drop))


def _equal(a: pa.ChunkedArray, b: pa.ChunkedArray) -> np.ndarray:
    """Element-wise equality where two nulls are equal (``b`` cast to ``a``'s type when they differ)."""
    if b.type != a.type:
        b = b.cast(a.type)
    both_null = pc.and_(pc.is_null(a), pc.is_null(b))
    return np.asarray(pc.or_(pc.fill_null(pc.equal(a, b), False), both_null).to_numpy(zero_copy_only=False), dtype=bool)
