"""The plain functions behind the ingestion tasks: stage one file, commit a run."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from sluice import staging
from sluice.contracts import Contract
from sluice.errors import SourceError, UnreadableFileError
from sluice.lake import (CommitResult, DedupedBucket, commit_deduped, commit_quarantine, committed_batches,
                         dedup_bucket, existing_days, lake_schema)
from sluice.formats import EncodingChoice, NeedsReencode, open_reader, redetect_encoding
from sluice.runs import FileOutcome, FileStatus
from sluice.sources import SourceFile, batch_id, sha256_of
from sluice.validate import BatchContext, validate_chunk


ENCODING_GUESSED = "encoding:guessed"  # warning: rows decoded under a guessed legacy code page


@dataclass(frozen=True)
class StageRequest:
    """Everything a worker needs to stage one file group (small and picklable)."""

    dataset: str
    contract: Contract
    run_id: str
    run_dir: str
    lake_uri: str
    ingest_date: date
    encoding: str | None = None
    chunk_rows: int = 250_000
    storage_options: dict[str, str] = field(default_factory=dict)
    lake_storage_options: dict[str, str] = field(default_factory=dict)


def _latest(table: pa.Table, column: str) -> str:
    if table.num_rows == 0:
        return ""
    value = pc.max(table.column(column)).as_py()
    return value.isoformat() if value is not None else ""


def _stage_chunks(src: SourceFile, req: StageRequest, batch: staging.StagedBatch,
                  encoding: str | EncodingChoice | None, out: FileOutcome) -> None:
    reader = open_reader(src, req.contract.column_names, encoding=encoding, chunk_rows=req.chunk_rows,
                         storage_options=req.storage_options, dialect=req.contract.csv)
    out.encoding = reader.layout.encoding
    ctx = BatchContext(req.dataset, req.run_id, out.batch_id, src.uri, req.ingest_date)
    for i, chunk in enumerate(reader.chunks()):
        result = validate_chunk(chunk, req.contract, ctx)
        out.partitions = sorted(set(out.partitions) | set(staging.write_valid(batch, result.valid, i)))
        staging.write_quarantine(batch, result.quarantine, i)
        out.rows_read += result.rows_read
        out.rows_valid += result.valid.num_rows
        out.rows_quarantined += result.quarantine.num_rows
        out.watermark = max(out.watermark, _latest(result.valid, req.contract.partition.column))
        for key, count in result.warnings.items():
            out.warnings[key] = out.warnings.get(key, 0) + count
        # Let go of this chunk and its result before the reader builds the
        # next one: otherwise two chunks' tables are alive at the peak.
        del chunk, result
    if reader.layout.guessed:
        # Every row decoded under a guessed code page is counted: a wrong guess garbles them all.
        out.warnings[ENCODING_GUESSED] = out.warnings.get(ENCODING_GUESSED, 0) + out.rows_read
    out.blank_lines = getattr(reader, "blank_lines", 0)
    out.missing_columns = list(reader.layout.missing)
    out.extra_columns = list(reader.layout.extra)


def stage_file(src: SourceFile, order: int, req: StageRequest) -> FileOutcome:
    """Read, validate and stage one file; a corrupt file is reported, never half-staged.

    Transient I/O errors propagate so the task can retry; permanent ones
    (truncated gzip, undecodable bytes) become a FAILED outcome with the reason.
    """
    started = time.perf_counter()
    out = FileOutcome(uri=src.uri, order=order, status=FileStatus.COMMITTED, bytes=src.size)
    out.sha256 = sha256_of(src.uri, req.storage_options)
    out.batch_id = batch_id(src.uri, out.sha256)
    if committed_batches(req.lake_uri, [out.batch_id], req.lake_storage_options):
        out.status = FileStatus.SKIPPED
        return out
    batch = staging.batch_dir(Path(req.run_dir), order, out.batch_id)
    # The run's parameter wins over the contract; a file that turns out not to be UTF-8
    # after ASCII text is read once more under a flagged guess.
    encoding: str | EncodingChoice | None = req.encoding or req.contract.encoding
    for _attempt in range(3):
        staging.reset(batch)
        fresh = FileOutcome(uri=src.uri, order=order, status=FileStatus.COMMITTED, bytes=src.size,
                            sha256=out.sha256, batch_id=out.batch_id)
        try:
            try:
                _stage_chunks(src, req, batch, encoding, fresh)
            except NeedsReencode as again:
                encoding = again.choice or redetect_encoding(src, req.storage_options)
                continue
        except (UnreadableFileError, SourceError) as exc:
            staging.reset(batch)
            fresh.status, fresh.error = FileStatus.FAILED, str(exc)
            fresh.rows_read = fresh.rows_valid = fresh.rows_quarantined = 0
            fresh.partitions = []
        if fresh.status is FileStatus.COMMITTED:
            staging.mark_complete(batch)
        fresh.seconds = time.perf_counter() - started
        return fresh
    raise UnreadableFileError(f"{src.uri}: the encoding changed on every reading", hint="declare --encoding")


@dataclass(frozen=True)
class CommitPlan:
    """What a run commits: its complete batches and their staged files by date bucket."""

    batch_ids: list[str]
    quarantine_files: dict[str, list[Path]]
    buckets: dict[str, list[Path]]
    old_days: set[str]
    work_dir: Path


def plan_commit(req: StageRequest, outcomes: list[FileOutcome]) -> CommitPlan:
    run_dir = Path(req.run_dir)
    done = {o.batch_id for o in outcomes if o.status is FileStatus.COMMITTED}
    batches = [b for b in staging.completed_batches(run_dir) if b.batch_id in done]
    q_files = {b.batch_id: staging.quarantine_files([b]) for b in batches}
    return CommitPlan(batch_ids=[b.batch_id for b in batches], quarantine_files={k: v for k, v in q_files.items() if v},
                      buckets=staging.bucket_files(batches),
                      old_days=existing_days(req.lake_uri, req.lake_storage_options),
                      work_dir=run_dir / "_deduped")


def dedup_buckets(req: StageRequest, plan: CommitPlan, names: list[str]) -> list[DedupedBucket]:
    """Deduplicate some buckets of a plan (a worker's share of the commit)."""
    schema = lake_schema(req.contract)
    return [dedup_bucket(n, plan.buckets[n], keys=req.contract.primary_key, schema=schema, old_days=plan.old_days,
                         out_dir=plan.work_dir, table=req.lake_uri, storage_options=req.lake_storage_options)
            for n in names]


def commit_run(req: StageRequest, plan: CommitPlan, deduped: list[DedupedBucket], *, quarantine_uri: str,
               metadata: dict[str, object]) -> tuple[CommitResult, int]:
    """Commit the staged quarantine, then the lake; return the lake result and quarantine rows added."""
    q_rows = commit_quarantine(quarantine_uri, plan.quarantine_files, run_id=req.run_id,
                               storage_options=req.lake_storage_options)
    result = commit_deduped(req.lake_uri, req.contract, deduped, batch_ids=plan.batch_ids, metadata=metadata,
                            storage_options=req.lake_storage_options)
    return result, q_rows


def split_evenly(names: list[str], parts: int, weights: dict[str, int] | None = None) -> list[list[str]]:
    """Deal ``names`` into at most ``parts`` non-empty groups of about equal total weight.

    Heaviest first, each to the lightest group so far (without weights, every
    name weighs the same). Each group keeps the names' original order.
    """
    parts = max(parts, 1)
    groups: list[list[str]] = [[] for _ in range(parts)]
    loads = [0] * parts
    rank = {n: i for i, n in enumerate(names)}
    for name in sorted(names, key=lambda n: -(weights or {}).get(n, 1)):
        lightest = loads.index(min(loads))
        groups[lightest].append(name)
        loads[lightest] += (weights or {}).get(name, 1)
    return [sorted(g, key=rank.__getitem__) for g in groups if g]


def bucket_bytes(plan: CommitPlan) -> dict[str, int]:
    """Staged bytes per date bucket of a plan: the weight of its deduplication."""
    return {name: sum(p.stat().st_size for p in paths) for name, paths in plan.buckets.items()}
