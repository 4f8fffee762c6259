"""The hold store: rows whose parent has not landed yet, kept for late arrival (``references: policy: hold``).

Held rows live in a Delta table per dataset, ``<lake>/_sluice_held/<dataset>``:
the valid rows' lake columns plus when they were held (``_held_at``) and last
stored (``_stored_at``), by which run, from which source file, and, once decided,
the release that takes them (``_release``) and whether it quarantines them (``_expired``).

Life of a held row, every step under the dataset's lease:

1. **stage**: validation splits it off the chunk (:func:`sluice.validate.chunk.validate_chunk`)
   and staging writes it beside the batch's valid rows (:func:`stage_held`);
2. **store**: before the batch's lake commit, :func:`store_held` merges the batch's held
   rows into the hold table, one pending row per lake key (:mod:`sluice.lake.held_store`):
   a source read again (a rerun, a look-back, a redelivered stream batch) adds none, and a
   changed row replaces the pending one's values from its first hold time; only rows of
   batches the lake table records count; rows of a batch whose commit never happened are
   purged by a release once that is certain (:mod:`sluice.lake.held_scan`), and the rerun
   that commits the batch stores them again;
3. **release** (:func:`release_held`): rows whose parents are now in the lake, and rows
   whose ``hold_timeout`` has passed, are marked with one release id in one commit of the
   hold table (a merge that rewrites only the files holding those rows; the open rows are read
   by column and filter, one record batch at a time); the release is then
   committed as one batch ``held:<dataset>`` at that id through the commit protocol
   (:func:`sluice.lake.commit.commit_batches`): released rows land, expired rows are
   quarantined as ``orphan_reference``; last, rows whose release the lake records leave the
   hold table (a delete by release id: files holding none of them stay as they are). A stop
   between steps is finished by the next release: a marked release is committed once (its
   batch id), and removed once committed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable

from sluice.errors import LakeError
from sluice.lake import staging
from sluice.lake.commit import Batch, CommitOutcome, CommitTarget, Fence, commit_batches
from sluice.lake.held_scan import (
    OpenRows,
    decide,
    ensure_batch_id,
    equals,
    open_rows,
    purge_uncommitted,
    release_ids,
    scan,
    stale_cutoff,
)
from sluice.lake.held_store import (
    EXPIRED,
    HELD_AT,
    HELD_RUN,
    HOLD_COLUMNS,
    HOLD_FOLDER,
    RELEASE,
    SOURCE_FILE,
    STORED_AT,
    TS,
    hold_keys,
    store_rows,
    with_hold_columns,
)
from sluice.lake.table import lake_dataset, open_table
from sluice.paths import ensure_dataset_name
from sluice.validate.chunk import BATCH_COL, QUARANTINE_SCHEMA, ROW_COL
from sluice.validate.coerce import as_text
from sluice.validate.contracts import Contract
from sluice.validate.keyset import KeySet
from sluice.validate.quality import Reason
from sluice.validate.references import ORPHAN_CHECK, ParentKeys, ReferencePolicy, distinct_keys

_TS = TS
_RELEASE_ID = re.compile(r"release-[0-9a-f]{32}")

__all__ = [
    "EXPIRED",
    "HELD_AT",
    "HELD_RUN",
    "HOLD_COLUMNS",
    "HOLD_FOLDER",
    "RELEASE",
    "SOURCE_FILE",
    "STORED_AT",
    "ReleaseBatch",
    "Released",
    "decide",
    "drop_releases",
    "held_source",
    "held_uri",
    "hold_keys",
    "mark_rows",
    "orphan_entries",
    "parent_keys",
    "release_held",
    "stage_held",
    "store_batch_held",
    "store_held",
    "utcnow",
    "with_hold_columns",
]


def utcnow() -> datetime:
    """The clock releases judge timeouts by (tests replace it)."""
    return datetime.now(timezone.utc)


def held_uri(lake_root: str, dataset: str) -> str:
    """The hold table of ``dataset`` under the lake root."""
    return f"{lake_root.rstrip('/')}/{HOLD_FOLDER}/{ensure_dataset_name(dataset)}"


def held_source(dataset: str) -> str:
    """The source name of a dataset's releases in commit metadata and run records."""
    return f"held:{dataset}"


def stage_held(batch: staging.StagedBatch, held: pa.Table, chunk: int, *, run_id: str, source_file: str) -> int:
    """Stage a chunk's held rows beside its batch; returns how many."""
    n = int(held.num_rows)
    if n == 0:
        return 0
    staging.write_held(batch, with_hold_columns(held, run_id=run_id, source_file=source_file), chunk)
    return n


def store_batch_held(uri: str, rows: pa.Table, contract: Contract, storage_options: dict[str, str]) -> int:
    """Store one batch's held rows (with :func:`with_hold_columns`), each key pending once; returns rows changed.

    For sources that commit a batch straight from memory (streams): call it under the dataset's lease
    just before the batch's lake commit. The rows count once the lake records their batch
    (:mod:`sluice.lake.held_store`); a batch whose commit never happens leaves rows a release purges.
    """
    return store_rows(uri, rows, hold_keys(contract), storage_options)


def store_held(
    uri: str, run_dir: staging.StagePath, batch_ids: list[str], storage_options: dict[str, str], *, contract: Contract
) -> int:
    """Store the staged held rows of ``batch_ids``, each key pending once; returns rows added or changed."""
    todo = [f for s in staging.completed_batches(run_dir) if s.batch_id in batch_ids for f in staging.held_files(s)]
    if not todo:
        return 0
    rows = pa.concat_tables([staging.read(p) for p in todo], promote_options="default")
    return store_rows(uri, rows, hold_keys(contract), storage_options)


def parent_keys(contract: Contract, lake_uri: Callable[[str], str], storage_options: dict[str, str]) -> ParentKeys:
    """The distinct keys each reference's parent table holds at its current version (None: no table).

    Each is a :class:`KeySet` built once per table version in this process and
    shared by every file and chunk checked against that version (worker threads
    wait for the one that builds it).
    """
    found: ParentKeys = {}
    for ref in contract.references:
        uri = lake_uri(ref.dataset)
        table = open_table(uri, storage_options)
        if table is None:
            found[ref.to] = None
            continue
        with _KEYS_LOCK:
            found[ref.to] = _keys_at(
                uri, table.version(), tuple(ref.parent_columns), tuple(sorted(storage_options.items()))
            )
    return found


_KEYS_LOCK = threading.Lock()


@lru_cache(maxsize=4)
def _keys_at(uri: str, version: int, columns: tuple[str, ...], options: tuple[tuple[str, str], ...]) -> KeySet:
    """A parent table's distinct keys at ``version``, ready to probe (a table version never changes: cached)."""
    table = DeltaTable(uri, version=version, storage_options=dict(options) or None)
    return KeySet(distinct_keys(lake_dataset(table).to_table(columns=list(columns)), list(columns)))


@dataclass(frozen=True)
class ReleaseBatch:
    """One release of held rows: its id, rows landing and rows quarantined, and the batch that commits them."""

    release_id: str
    rows_released: int
    rows_expired: int
    batch: Batch


@dataclass(frozen=True)
class Released:
    """What a call of :func:`release_held` committed; ``outcome.skipped`` names releases the lake had already."""

    batches: list[ReleaseBatch]
    outcome: CommitOutcome


def _release_id(rows: pa.Table) -> str:
    ids = pc.binary_join_element_wise(rows.column(BATCH_COL), rows.column(ROW_COL).cast(pa.string()), ":")
    digest = hashlib.sha256("\n".join(sorted(ids.to_pylist())).encode()).hexdigest()[:32]
    return f"release-{digest}"


def _recorded(lake: DeltaTable | None, batch_ids: list[str]) -> set[str]:
    """The batch ids the lake table records as committed."""
    return set() if lake is None else {b for b in batch_ids if lake.transaction_version(b) is not None}


def _recorder(lake: DeltaTable | None) -> Callable[[str], bool]:
    return lambda b: lake is not None and lake.transaction_version(b) is not None


def _mark(
    uri: str, table: DeltaTable, lake: DeltaTable | None, target: CommitTarget, parents: ParentKeys, now: datetime
) -> OpenRows:
    """Mark the open rows of committed batches that are decided with one release id; returns what the scan found."""
    found = open_rows(table, _recorder(lake), target.contract, parents, now, target.storage_options)
    marks = found.marks()
    if marks is not None and marks.num_rows:
        marks = marks.append_column(RELEASE, pa.repeat(_release_id(marks), marks.num_rows))
        mark_rows(uri, marks, target.storage_options)
    return found


def mark_rows(uri: str, decided: pa.Table, options: dict[str, str]) -> None:
    """Record the release (and expiry) of ``decided`` rows in one commit that rewrites only the files holding them.

    A row is matched by its batch and source row, and only while it is open: a mark is never overwritten.
    The batch ids are also named as literals, so the merge reads only the files that hold them (a file's
    statistics on ``_batch_id`` rule the others out): its memory follows those files, not the table.
    """
    marks = decided.select([BATCH_COL, ROW_COL, RELEASE, EXPIRED])
    on = " AND ".join(f't."{c}" = s."{c}"' for c in (BATCH_COL, ROW_COL))
    listed = ", ".join(f"'{ensure_batch_id(b)}'" for b in sorted(pc.unique(marks.column(BATCH_COL)).to_pylist()))
    predicate = f't."{RELEASE}" IS NULL AND t."{BATCH_COL}" IN ({listed}) AND {on}'
    (
        DeltaTable(uri, storage_options=options or None)
        .merge(marks, predicate=predicate, source_alias="s", target_alias="t")
        .when_matched_update(updates={RELEASE: f's."{RELEASE}"', EXPIRED: f's."{EXPIRED}"'})
        .execute()
    )


def _entries(rows: pa.Table, contract: Contract, run_id: str, today: datetime) -> pa.Table:
    """Quarantine entries (``orphan_reference``) for held rows whose wait is over."""
    label = next(r.label for r in contract.references if r.policy is ReferencePolicy.HOLD)
    return orphan_entries(rows, contract, run_id, today, label)


def orphan_entries(rows: pa.Table, contract: Contract, run_id: str, today: datetime, label: str) -> pa.Table:
    """Quarantine entries (``orphan_reference`` of the reference ``label``) for ``rows``, one each.

    ``rows`` carries the contract's columns (as many as it has), the batch id, source row and
    source file columns (``_batch_id``, ``_source_row``, ``_source_file``); values are kept as text.
    """
    n = rows.num_rows
    names = [c for c in contract.column_names if c in rows.column_names]
    values = [as_text(rows.column(c).combine_chunks()) for c in names]
    order = (np.arange(len(names))[None, :] * n + np.arange(n)[:, None]).ravel()
    items = pa.concat_arrays(values).take(pa.array(order)) if names else pa.array([], pa.string())
    keys = pa.array(np.tile(np.array(names, dtype=object), n), pa.string())
    record = pa.MapArray.from_arrays(
        pa.array(np.arange(0, n * len(names) + 1, len(names), dtype=np.int32)), keys, items
    )
    return pa.table(
        {
            "dataset": pa.repeat(contract.name, n),
            "dt": pa.repeat(pa.scalar(today.date(), pa.date32()), n),
            "run_id": pa.repeat(run_id, n),
            "batch_id": rows.column(BATCH_COL),
            "source_file": rows.column(SOURCE_FILE),
            "source_row": rows.column(ROW_COL),
            "reason": pa.repeat(Reason.ORPHAN_REFERENCE.value, n),
            "check": pa.repeat(ORPHAN_CHECK, n),
            "column": pa.repeat(label, n),
            "value": as_text(rows.column(label).combine_chunks()),
            "failures": pa.repeat(f"{label}:{Reason.ORPHAN_REFERENCE.value}", n),
            "record": record,
            "quarantined_at": pa.repeat(pa.scalar(today, _TS), n),
        },
        schema=QUARANTINE_SCHEMA,
    )


def _stage_release(target: CommitTarget, order: int, rid: str, table: DeltaTable, now: datetime) -> ReleaseBatch:
    """Stage one release as the batch ``held:<dataset>`` at ``rid``: landing rows valid, expired ones quarantined.

    The release's rows are read by release id (pushed down to the scan) and staged one record batch at a time.
    """
    batch, opts = Batch(held_source(target.dataset), rid), target.storage_options
    staged = staging.batch_dir(target.staging_dir, order, batch.id)
    staging.reset(staged)
    landed = gone = 0
    for chunk, rows in enumerate(scan(table, None, equals(table, RELEASE, rid, opts), opts)):
        expired = pc.fill_null(rows.column(EXPIRED), False)
        landing = rows.filter(pc.invert(expired)).drop_columns([c for c in HOLD_COLUMNS if c in rows.column_names])
        quarantined = rows.filter(expired)
        staging.write_valid(staged, landing, chunk)
        staging.write_quarantine(staged, _entries(quarantined, target.contract, target.run_id, now), chunk)
        landed, gone = landed + landing.num_rows, gone + quarantined.num_rows
    staging.mark_complete(staged)
    counted = dataclasses.replace(batch, rows_read=landed + gone, rows_quarantined=gone)
    return ReleaseBatch(rid, landed, gone, counted)


def _drop_landed(uri: str, dataset: str, rids: list[str], lake: DeltaTable | None, options: dict[str, str]) -> None:
    """Remove the rows whose release the lake table records."""
    done = [r for r in rids if _recorded(lake, [Batch(held_source(dataset), r).id])]
    if done:
        drop_releases(uri, done, options)


def drop_releases(uri: str, release_ids: list[str], options: dict[str, str]) -> None:
    """Delete the rows of ``release_ids`` from the hold table in one commit; files holding none stay as they are."""
    listed = ", ".join(f"'{_ensure_release_id(r)}'" for r in release_ids)
    DeltaTable(uri, storage_options=options or None).delete(predicate=f'"{RELEASE}" IN ({listed})')


def _ensure_release_id(rid: str) -> str:
    """``rid`` if it is a release id (:func:`_release_id`), the only text a delete predicate is built from."""
    if not _RELEASE_ID.fullmatch(rid):
        raise LakeError(f"{rid!r} in a hold table is not a release id", hint="the hold table was written by hand")
    return rid


def release_held(
    target: CommitTarget,
    uri: str,
    parents: ParentKeys,
    *,
    now: datetime | None = None,
    lease: Fence | None = None,
    stale_after: timedelta | None = None,
) -> Released | None:
    """Release or expire the held rows of ``target.dataset`` whose parents landed or whose wait is over.

    Call it holding the dataset's lease, with ``target.staging_dir`` a fresh
    folder. Every release still open (marked by this call or by an earlier one
    that stopped) is committed in one commit, each exactly once; the rows of
    committed releases leave the hold table. With ``stale_after`` (the staging
    stale hours), open rows of batches that never committed are purged
    (:mod:`sluice.lake.held_scan`). ``None``: nothing to release.
    """
    when, opts = now or utcnow(), target.storage_options
    table = open_table(uri, opts)
    if table is None:
        return None
    lake = open_table(target.lake_uri, opts)
    found = _mark(uri, table, lake, target, parents, when)
    cutoff = stale_cutoff(when, stale_after)
    if cutoff is not None:
        purge_uncommitted(uri, found.uncommitted, cutoff, opts)
    table = DeltaTable(uri, storage_options=opts or None)
    rids = [_ensure_release_id(r) for r in release_ids(table, opts)]
    if not rids:
        return None
    staged = [_stage_release(target, i, rid, table, when) for i, rid in enumerate(rids)]
    metadata: dict[str, object] = {"run_id": target.run_id, "releases": rids}
    outcome = commit_batches(target, [s.batch for s in staged], metadata=metadata, lease=lease)
    _drop_landed(uri, target.dataset, rids, open_table(target.lake_uri, opts), opts)
    return Released(staged, outcome)
