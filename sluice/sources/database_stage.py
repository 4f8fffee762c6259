"""Database reads into the staging of the commit protocol, and their commit.

A snapshot stages one batch per key range (source: the table, position: the
snapshot and the range); an incremental run stages one batch whose position
is its keyset end (:mod:`sluice.sources.database_keyset`). Rows are
validated by the contract ``chunk_rows`` at a time and staged like a file's
(:mod:`sluice.lake.staging`), so memory stays flat whatever the table's size;
the contract's ``references`` are checked against the parents' lake tables as a
batch starts, and rows a ``hold`` reference keeps back are staged beside the
batch (:mod:`sluice.lake.held`). The batches are committed together, exactly once
(:func:`sluice.lake.commit.commit_batches`).

How the lake keeps the rows is the ``apply`` callable of :func:`commit_table`
(an :class:`ApplyBatches`): by default :func:`commit_batches`, which appends
(the first occurrence of a key wins) or, for an upsert or scd2 contract,
applies by key. Rows of a contract ordered by ``_lsn`` are stamped with
their snapshot's WAL position (:mod:`sluice.sources.database_read`).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sluice.formats import RawChunk
from sluice.governance.protect import Protector
from sluice.ingest import skip_committed_elsewhere
from sluice.lake import staging
from sluice.lake.commit import (
    Batch,
    CommitOutcome,
    CommitPlan,
    CommitTarget,
    Dedup,
    Fence,
    commit_batches,
    dedup_buckets,
)
from sluice.lake.held import parent_keys, stage_held
from sluice.lake.table import DedupedBucket, committed_batches, kept_history, open_table
from sluice.runs.completeness import ControlTotals, TotalsCheck, add_read_sum, check, take_source_side
from sluice.runs.records import FileOutcome, FileStatus
from sluice.settings import get_settings
from sluice.sources.database import Dialect
from sluice.sources.database_keyset import Position, keyset_read, parse_position
from sluice.sources.database_read import (
    LSN_COLUMN,
    KeyRange,
    Snapshot,
    TableSpec,
    describe,
    pg_snapshot,
    read_range,
    stamped_columns,
)
from sluice.sources.database_types import SourceColumn
from sluice.telemetry import stages
from sluice.validate.chunk import BatchContext, validate_chunk
from sluice.validate.references import ParentKeys


@dataclass(frozen=True)
class TableRequest:
    """Everything a worker needs to stage a share of a table (small and picklable)."""

    spec: TableSpec
    columns: dict[str, SourceColumn]
    dataset: str
    run_id: str
    run_dir: str  # a local path, or an object-store prefix reached with ``staging_options``
    lake_uri: str
    ingest_date: date
    chunk_rows: int = 250_000
    lake_storage_options: dict[str, str] = field(default_factory=dict)
    protector: Protector | None = None  # the keys of the contract's protected columns (sluice.governance.protect)
    staging_options: dict[str, str] = field(default_factory=dict)  # reach ``run_dir`` on an object store
    # The lake table of each dataset the contract's references point at, by dataset.
    reference_uris: dict[str, str] = field(default_factory=dict)

    def run_place(self) -> staging.StagePath:
        """The run's staging folder, local or on the object store."""
        return staging.location(self.run_dir, self.staging_options)


def reference_keys(req: TableRequest) -> ParentKeys | None:
    """The keys of the datasets the contract's references point at, at their lake tables' current versions."""
    if not (req.spec.contract.references and req.reference_uris):
        return None
    return parent_keys(req.spec.contract, req.reference_uris.__getitem__, req.lake_storage_options)


def _flush(
    req: TableRequest,
    batch: staging.StagedBatch,
    out: FileOutcome,
    table: pa.Table,
    i: int,
    parents: ParentKeys | None = None,
) -> None:
    ctx = BatchContext(req.dataset, req.run_id, out.batch_id, out.uri, req.ingest_date)
    rows = np.arange(out.rows_read + 1, out.rows_read + 1 + table.num_rows, dtype=np.int64)
    with stages.stage(stages.VALIDATE, req.run_id, req.dataset) as span:
        chunk = RawChunk(table, rows)
        contract = req.spec.contract
        result = validate_chunk(chunk, contract, ctx, keep_empty=True, protector=req.protector, parents=parents)
        span.set_attributes({stages.ROWS: result.rows_read, "sluice.quarantined": result.quarantine.num_rows})
    with stages.stage(stages.WRITE, req.run_id, req.dataset, rows=result.valid.num_rows):
        out.partitions = sorted(set(out.partitions) | set(staging.write_valid(batch, result.valid, i)))
        staging.write_quarantine(batch, result.quarantine, i)
        if result.held is not None:
            out.rows_held += stage_held(batch, result.held, i, run_id=req.run_id, source_file=out.uri)
    out.rows_read += result.rows_read
    out.rows_valid += result.valid.num_rows
    out.rows_quarantined += result.quarantine.num_rows
    out.rows_orphaned += result.orphans
    add_read_sum(out.totals, result.valid)
    for key, count in result.warnings.items():
        out.warnings[key] = out.warnings.get(key, 0) + count
    if result.valid.num_rows:
        latest = pc.max(result.valid.column(req.spec.contract.partition.column)).as_py()
        out.watermark = max(out.watermark, latest.isoformat() if latest is not None else "")


def stage_tables(tables: Iterable[pa.Table], req: TableRequest, batch: staging.StagedBatch, out: FileOutcome) -> None:
    """Validate and stage driver batches, ``chunk_rows`` rows at a time (the batch is complete after)."""
    staging.reset(batch)
    parents = reference_keys(req)  # read once per batch: every chunk is checked against the same parent versions
    pending: list[pa.Table] = []
    held = chunk = 0
    for table in stages.traced_reads(tables, req.run_id, req.dataset, lambda t: t.num_rows):
        pending.append(table)
        out.bytes += table.nbytes  # the Arrow batches' size: no driver here reports the bytes it received
        held += table.num_rows
        if held >= req.chunk_rows:
            _flush(req, batch, out, pa.concat_tables(pending), chunk, parents)
            pending, held, chunk = [], 0, chunk + 1
    if held:
        _flush(req, batch, out, pa.concat_tables(pending), chunk, parents)
    staging.mark_complete(batch)


def stamped(tables: Iterable[pa.Table], spec: TableSpec, lsn: int | None) -> Iterator[pa.Table]:
    """Driver batches with the columns the contract stamps: ``_lsn`` the snapshot's position, ``_op`` null."""
    names = stamped_columns(spec.contract)
    for table in tables:
        n, out = table.num_rows, table
        for name in names:
            value = pa.array([lsn] * n, pa.int64()) if name == LSN_COLUMN else pa.nulls(n, pa.string())
            out = out.append_column(name, value)
        yield out


def _outcome(req: TableRequest, order: int, label: str, position: str) -> FileOutcome:
    b = Batch(req.spec.source, position)
    out = FileOutcome(uri=f"{req.spec.source} {label}", order=order, status=FileStatus.COMMITTED)
    out.sha256, out.batch_id = position, b.id
    if committed_batches(req.lake_uri, [b.id], req.lake_storage_options):
        out.status = FileStatus.SKIPPED
    return out


def _timed(req: TableRequest, out: FileOutcome, started: float, stage: Callable[[], None]) -> FileOutcome:
    with stages.stage(stages.BATCH, req.run_id, req.dataset, source=out.uri) as span:
        if out.status is FileStatus.COMMITTED:
            stage()
        span.set_attributes({"sluice.status": out.status.value, stages.ROWS: out.rows_read})
    out.seconds = time.perf_counter() - started
    return out


def _open_check(req: TableRequest, out: FileOutcome, counted: ControlTotals | None) -> TotalsCheck | None:
    """The batch's completeness check with the source's side ``counted`` (None: not yet) and the read side empty,
    filled in as its rows are staged (None: the contract compares none, or the batch is not read)."""
    spec = req.spec.contract.completeness
    if not spec.on or out.status is not FileStatus.COMMITTED:
        return None
    out.totals = check(spec, out.uri, counted, 0, {})
    out.totals.read_sum = 0.0 if spec.sum is not None else None
    return out.totals


def _range_check(req: TableRequest, snapshot: Snapshot, order: int, out: FileOutcome) -> TotalsCheck | None:
    """The range's completeness check: PostgreSQL's totals come with the snapshot, MariaDB's reader fills them in
    when it counts its range in its own snapshot."""
    return _open_check(req, out, snapshot.totals[order] if order < len(snapshot.totals) else None)


def _close_check(out: FileOutcome) -> FileOutcome:
    """The batch's outcome with the rows it read on the read side of its check."""
    if out.totals is not None:
        out.totals.read_rows = out.rows_read
    return out


def stage_range(req: TableRequest, snapshot: Snapshot, rng: KeyRange, order: int) -> FileOutcome:
    """Read and stage one key range of a snapshot (skipped if a run committed that very batch)."""
    started = time.perf_counter()
    out = _outcome(req, order, f"pk {rng.label()}", f"{snapshot.label} pk {rng.label()}")
    batch = staging.batch_dir(req.run_place(), order, out.batch_id)
    totals = _range_check(req, snapshot, order, out)
    counted = None if totals is None or req.spec.dialect is not Dialect.MARIADB else partial(take_source_side, totals)
    rows = stamped(read_range(req.spec, req.columns, snapshot, rng, counted), req.spec, snapshot.lsn)
    return _close_check(_timed(req, out, started, lambda: stage_tables(rows, req, batch, out)))


def stage_incremental(req: TableRequest, previous: Position | None, lookback: float) -> FileOutcome | None:
    """Read and stage the rows after ``previous`` (and the look-back before it); None: the table is empty.

    Under a completeness policy the batch's check compares the interval's totals, counted in the read's
    snapshot, with the rows read.
    """
    started = time.perf_counter()
    with keyset_read(req.spec, req.columns, previous, lookback) as (plan, pages):
        if plan.end is None:
            return None
        out = _outcome(req, 0, f"cursor {req.spec.cursor} to {plan.end.values()}", plan.position())
        batch = staging.batch_dir(req.run_place(), 0, out.batch_id)
        _open_check(req, out, plan.totals)

        def stage() -> None:
            stage_tables(stamped(pages(), req.spec, plan.lsn), req, batch, out)

        return _close_check(_timed(req, out, started, stage))


def last_position(lake_uri: str, source: str, storage_options: dict[str, str] | None = None) -> Position | None:
    """The end of the newest keyset batch of ``source`` the lake holds (None: none yet).

    A batch whose commit was rolled back is not held: the next run reads its rows again.
    """
    table = open_table(lake_uri, storage_options)
    if table is None:
        return None
    for entry in kept_history(table.history()):
        raw = entry.get("sluice.sources")
        for described in json.loads(raw) if isinstance(raw, str) else []:
            if described.get("source") == source and (pos := parse_position(str(described.get("position", "")))):
                return pos
    return None


def table_batches(outcomes: list[FileOutcome], source: str) -> list[Batch]:
    """The batches a run staged whole, with the counts staging made."""
    return [
        Batch(source, o.sha256, o.rows_read, o.rows_quarantined) for o in outcomes if o.status is FileStatus.COMMITTED
    ]


class ApplyBatches(Protocol):
    """How staged batches become the lake's rows: :func:`commit_batches` (append, first key wins) by default."""

    def __call__(
        self,
        target: CommitTarget,
        batches: list[Batch],
        *,
        metadata: dict[str, object],
        lease: Fence | None = None,
        dedup: Dedup | None = None,
    ) -> CommitOutcome: ...


def threaded_dedup(target: CommitTarget, workers: int) -> Dedup:
    """A plan's deduplication, one date bucket per task on ``workers`` threads, results in bucket order.

    Filtering the staged rows and encoding Parquet, most of the work, run in
    Arrow kernels that release the GIL, so the buckets share the cores.
    """

    def run(plan: CommitPlan) -> list[DedupedBucket]:
        names = list(plan.buckets)
        if workers <= 1 or len(names) <= 1:
            return dedup_buckets(target, plan, names)
        with ThreadPoolExecutor(min(workers, len(names))) as pool:
            return [b for done in pool.map(lambda n: dedup_buckets(target, plan, [n]), names) for b in done]

    return run


def commit_table(
    target: CommitTarget,
    source: str,
    outcomes: list[FileOutcome],
    *,
    metadata: dict[str, object],
    lease: Fence | None = None,
    dedup: Dedup | None = None,
    apply: ApplyBatches = commit_batches,
) -> CommitOutcome:
    """Commit a run's staged batches; batches another run committed first are marked skipped.

    ``dedup`` defaults to :func:`threaded_dedup` on ``SLUICE_DASK_WORKERS`` threads.
    """
    run_dedup = dedup or threaded_dedup(target, get_settings().dask_workers)
    batches = table_batches(outcomes, source)
    with stages.stage(stages.COMMIT, target.run_id, target.dataset, batches=len(batches)) as span:
        outcome = apply(target, batches, metadata=metadata, lease=lease, dedup=run_dedup)
        span.set_attribute("sluice.skipped", len(outcome.skipped))
    skip_committed_elsewhere(outcomes, outcome.skipped)
    return outcome


Mapper = Callable[[Callable[[KeyRange, int], FileOutcome], list[KeyRange]], Iterator[FileOutcome]]


def threads(workers: int) -> Mapper:
    """Run the ranges on a thread pool (the flow runs them as Dask tasks instead)."""

    def run(fn: Callable[[KeyRange, int], FileOutcome], ranges: list[KeyRange]) -> Iterator[FileOutcome]:
        with ThreadPoolExecutor(max(workers, 1)) as pool:
            yield from pool.map(fn, ranges, range(len(ranges)))

    return run


@contextlib.contextmanager
def held_snapshot(req: TableRequest, parts: int) -> Iterator[Snapshot]:
    """The snapshot a table's readers share, held while they run, and its key ranges.

    PostgreSQL: an exported snapshot split into ``parts`` primary-key ranges.
    MariaDB: no snapshot can be shared, so one reader and one range, consistent in itself (and counted in it).
    """
    if req.spec.dialect is Dialect.MARIADB:
        yield Snapshot(None, f"mariadb-snapshot {req.run_id}", [KeyRange()])
        return
    with pg_snapshot(req.spec, req.columns, parts) as snap:
        yield snap


def snapshot_table(req: TableRequest, parts: int, run: Mapper | None = None) -> list[FileOutcome]:
    """Stage a whole table inside one snapshot, its key ranges read in parallel (threads by default)."""
    mapper = run or threads(parts)
    with held_snapshot(req, parts) as snap:
        return list(mapper(lambda rng, i: stage_range(req, snap, rng, i), snap.ranges))


def prepare(spec: TableSpec, **fields: object) -> TableRequest:
    """Describe the source (every contract column must map) and build the request for its workers."""
    return TableRequest(spec=spec, columns=describe(spec), **fields)  # type: ignore[arg-type]
