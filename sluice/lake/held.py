"""The hold store: rows whose parent has not landed yet, kept for late arrival (``references: policy: hold``).

Held rows live in a Delta table per dataset, ``<lake>/_sluice_held/<dataset>``:
the valid rows' lake columns plus when they were held (``_held_at``), by
which run, from which source file, and, once decided, the release that takes
them (``_release``) and whether it quarantines them (``_expired``).

Life of a held row, every step under the dataset's lease:

1. **stage**: validation splits it off the chunk (:func:`sluice.validate.chunk.validate_chunk`)
   and staging writes it beside the batch's valid rows (:func:`stage_held`);
2. **store**: before the batch's lake commit, :func:`store_held` appends the batch's held
   rows with the application transaction ``held:<batch id>``, so a rerun adds them once;
   only rows of batches the lake table records count (a batch whose commit never happened
   is read again by the rerun that commits it);
3. **release** (:func:`release_held`): rows whose parents are now in the lake, and rows
   whose ``hold_timeout`` has passed, are marked with one release id in one commit of the
   hold table (a merge that rewrites only the files holding those rows); the release is then
   committed as one batch ``held:<dataset>`` at that id through the commit protocol
   (:func:`sluice.lake.commit.commit_batches`): released rows land, expired rows are
   quarantined as ``orphan_reference``; last, rows whose release the lake records leave the
   hold table (a delete by release id: files holding none of them stay as they are). A stop
   between steps is finished by the next release: a marked release is committed once (its
   batch id), and removed once committed.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake

from sluice.errors import LakeError
from sluice.lake import staging
from sluice.lake.commit import Batch, CommitOutcome, CommitTarget, Fence, commit_batches
from sluice.lake.table import lake_dataset, open_table
from sluice.paths import ensure_dataset_name
from sluice.validate.chunk import BATCH_COL, QUARANTINE_SCHEMA, ROW_COL
from sluice.validate.coerce import as_text
from sluice.validate.contracts import Contract
from sluice.validate.keyset import KeySet
from sluice.validate.quality import Reason
from sluice.validate.references import ORPHAN_CHECK, ParentKeys, ReferencePolicy, distinct_keys, orphan_mask

HELD_AT = "_held_at"
HELD_RUN = "_held_run"
SOURCE_FILE = "_source_file"
RELEASE = "_release"
EXPIRED = "_expired"
HOLD_COLUMNS = (HELD_AT, HELD_RUN, SOURCE_FILE, RELEASE, EXPIRED)
HOLD_FOLDER = "_sluice_held"
_TS = pa.timestamp("us", tz="UTC")
_RELEASE_ID = re.compile(r"release-[0-9a-f]{32}")


def utcnow() -> datetime:
    """The clock releases judge timeouts by (tests replace it)."""
    return datetime.now(timezone.utc)


def held_uri(lake_root: str, dataset: str) -> str:
    """The hold table of ``dataset`` under the lake root."""
    return f"{lake_root.rstrip('/')}/{HOLD_FOLDER}/{ensure_dataset_name(dataset)}"


def held_source(dataset: str) -> str:
    """The source name of a dataset's releases in commit metadata and run records."""
    return f"held:{dataset}"


def with_hold_columns(held: pa.Table, *, run_id: str, source_file: str) -> pa.Table:
    """A chunk's held rows with the hold columns: held at this moment, by ``run_id``, from ``source_file``, open."""
    n = held.num_rows
    now = pa.scalar(datetime.now(timezone.utc), _TS)
    return (
        held.append_column(HELD_AT, pa.repeat(now, n))
        .append_column(HELD_RUN, pa.repeat(run_id, n))
        .append_column(SOURCE_FILE, pa.repeat(source_file, n))
        .append_column(RELEASE, pa.nulls(n, pa.string()))
        .append_column(EXPIRED, pa.repeat(False, n))
    )


def stage_held(batch: staging.StagedBatch, held: pa.Table, chunk: int, *, run_id: str, source_file: str) -> int:
    """Stage a chunk's held rows beside its batch; returns how many."""
    n = int(held.num_rows)
    if n == 0:
        return 0
    staging.write_held(batch, with_hold_columns(held, run_id=run_id, source_file=source_file), chunk)
    return n


def store_batch_held(uri: str, batch_id: str, rows: pa.Table, storage_options: dict[str, str]) -> bool:
    """Append one batch's held rows (with :func:`with_hold_columns`) unless the hold table records the batch.

    For sources that commit a batch straight from memory (streams): call it under the dataset's lease
    just before the batch's lake commit. The rows count only once the lake records ``batch_id``; a
    batch whose commit never happens leaves rows no release ever takes. False: recorded already.
    """
    table = open_table(uri, storage_options)
    if table is not None and table.transaction_version(_app_id(batch_id)) is not None:
        return False
    write_deltalake(
        uri,
        rows,
        mode="append",
        schema_mode="merge",
        storage_options=storage_options or None,
        commit_properties=CommitProperties(app_transactions=[Transaction(_app_id(batch_id), 1)]),
    )
    return True


def store_held(uri: str, run_dir: staging.StagePath, batch_ids: list[str], storage_options: dict[str, str]) -> int:
    """Append the staged held rows of ``batch_ids`` the hold table does not record yet; returns rows added."""
    staged = {s.batch_id: staging.held_files(s) for s in staging.completed_batches(run_dir)}
    table = open_table(uri, storage_options)
    todo = {
        b: files
        for b, files in staged.items()
        if b in batch_ids and files and (table is None or table.transaction_version(_app_id(b)) is None)
    }
    if not todo:
        return 0
    rows = pa.concat_tables([staging.read(p) for files in todo.values() for p in files], promote_options="default")
    write_deltalake(
        uri,
        rows,
        mode="append",
        schema_mode="merge",
        storage_options=storage_options or None,
        commit_properties=CommitProperties(app_transactions=[Transaction(_app_id(b), 1) for b in todo]),
    )
    return int(rows.num_rows)


def _app_id(batch: str) -> str:
    return f"held:{batch}"


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


def decide(rows: pa.Table, contract: Contract, parents: ParentKeys, now: datetime) -> tuple[np.ndarray, np.ndarray]:
    """Per open held row: whether its parents have all landed, and whether it waited past a timeout."""
    orphan = np.zeros(rows.num_rows, dtype=bool)
    expired = np.zeros(rows.num_rows, dtype=bool)
    held_at = rows.column(HELD_AT)
    for ref in contract.references:
        if ref.policy is not ReferencePolicy.HOLD:
            continue
        mask = orphan_mask(rows, ref, parents.get(ref.to))
        due = pc.less_equal(held_at, pa.scalar(now - ref.hold_timeout, _TS)).to_numpy(zero_copy_only=False)
        orphan |= mask
        expired |= mask & due
    return ~orphan, expired


def _release_id(rows: pa.Table) -> str:
    ids = pc.binary_join_element_wise(rows.column(BATCH_COL), rows.column(ROW_COL).cast(pa.string()), ":")
    digest = hashlib.sha256("\n".join(sorted(ids.to_pylist())).encode()).hexdigest()[:32]
    return f"release-{digest}"


def _recorded(lake: DeltaTable | None, batch_ids: list[str]) -> set[str]:
    """The batch ids the lake table records as committed."""
    return set() if lake is None else {b for b in batch_ids if lake.transaction_version(b) is not None}


def _mark(
    uri: str,
    rows: pa.Table,
    lake: DeltaTable | None,
    contract: Contract,
    parents: ParentKeys,
    now: datetime,
    options: dict[str, str],
) -> pa.Table:
    """Mark the open rows of committed batches that are decided with one release id; returns the rows."""
    open_rows = pc.is_null(rows.column(RELEASE)).to_numpy(zero_copy_only=False)
    batches = _recorded(lake, pc.unique(rows.column(BATCH_COL)).to_pylist())
    committed = pc.is_in(rows.column(BATCH_COL), value_set=pa.array(sorted(batches), pa.string()))
    candidates = np.flatnonzero(open_rows & committed.to_numpy(zero_copy_only=False))
    if not len(candidates):
        return rows
    landed, expired = decide(rows.take(pa.array(candidates)), contract, parents, now)
    decided = candidates[landed | expired]
    if not len(decided):
        return rows
    release = np.full(rows.num_rows, None, dtype=object)
    release[decided] = _release_id(rows.take(pa.array(decided)))
    gone = np.zeros(rows.num_rows, dtype=bool)
    gone[candidates[expired & ~landed]] = True
    marked = rows.set_column(
        rows.schema.get_field_index(RELEASE), RELEASE, pc.coalesce(rows.column(RELEASE), pa.array(release, pa.string()))
    )
    marked = marked.set_column(
        marked.schema.get_field_index(EXPIRED), EXPIRED, pc.or_(marked.column(EXPIRED), pa.array(gone))
    )
    mark_rows(uri, marked.take(pa.array(decided)), options)
    return marked


def mark_rows(uri: str, decided: pa.Table, options: dict[str, str]) -> None:
    """Record the release (and expiry) of ``decided`` rows in one commit that rewrites only the files holding them.

    A row is matched by its batch and source row, and only while it is open: a mark is never overwritten.
    """
    marks = decided.select([BATCH_COL, ROW_COL, RELEASE, EXPIRED])
    on = " AND ".join(f't."{c}" = s."{c}"' for c in (BATCH_COL, ROW_COL))
    (
        DeltaTable(uri, storage_options=options or None)
        .merge(marks, predicate=f't."{RELEASE}" IS NULL AND {on}', source_alias="s", target_alias="t")
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


def _stage_release(target: CommitTarget, order: int, rid: str, rows: pa.Table, now: datetime) -> ReleaseBatch:
    """Stage one release as the batch ``held:<dataset>`` at ``rid``: landing rows valid, expired ones quarantined."""
    expired = rows.column(EXPIRED)
    gone = rows.filter(expired)
    batch = Batch(held_source(target.dataset), rid, rows_read=rows.num_rows, rows_quarantined=gone.num_rows)
    staged = staging.batch_dir(target.staging_dir, order, batch.id)
    staging.reset(staged)
    landing = rows.filter(pc.invert(expired)).drop_columns([c for c in HOLD_COLUMNS if c in rows.column_names])
    staging.write_valid(staged, landing, 0)
    staging.write_quarantine(staged, _entries(gone, target.contract, target.run_id, now), 0)
    staging.mark_complete(staged)
    return ReleaseBatch(rid, landing.num_rows, gone.num_rows, batch)


def _drop_landed(uri: str, dataset: str, rows: pa.Table, lake: DeltaTable | None, options: dict[str, str]) -> None:
    """Remove the rows whose release the lake table records."""
    releases = [r for r in pc.unique(rows.column(RELEASE)).to_pylist() if r is not None]
    done = {r for r in releases if _recorded(lake, [Batch(held_source(dataset), r).id])}
    if not done:
        return
    drop_releases(uri, sorted(done), options)


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
) -> Released | None:
    """Release or expire the held rows of ``target.dataset`` whose parents landed or whose wait is over.

    Call it holding the dataset's lease, with ``target.staging_dir`` a fresh
    folder. Every release still open (marked by this call or by an earlier one
    that stopped) is committed in one commit, each exactly once; the rows of
    committed releases leave the hold table. ``None``: nothing to release.
    """
    when = now or utcnow()
    table = open_table(uri, target.storage_options)
    if table is None:
        return None
    lake = open_table(target.lake_uri, target.storage_options)
    rows = _mark(uri, table.to_pyarrow_table(), lake, target.contract, parents, when, target.storage_options)
    rids = sorted(_ensure_release_id(r) for r in pc.unique(rows.column(RELEASE)).to_pylist() if r is not None)
    if not rids:
        return None
    staged = [
        _stage_release(target, i, rid, rows.filter(pc.fill_null(pc.equal(rows.column(RELEASE), rid), False)), when)
        for i, rid in enumerate(rids)
    ]
    metadata: dict[str, object] = {"run_id": target.run_id, "releases": rids}
    outcome = commit_batches(target, [s.batch for s in staged], metadata=metadata, lease=lease)
    _drop_landed(uri, target.dataset, rows, open_table(target.lake_uri, target.storage_options), target.storage_options)
    return Released(staged, outcome)
