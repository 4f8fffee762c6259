"""The plain functions behind the file-ingestion tasks: stage one file, commit a run's files."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime

import pyarrow as pa
import pyarrow.compute as pc

from sluice.errors import SourceError, UnreadableFileError
from sluice.formats import ColumnPaths, EncodingChoice, NeedsReencode, open_reader, redetect_encoding
from sluice.governance.protect import Protector
from sluice.ingest_children import (
    ChildStage,
    child_outcomes,
    child_target,
    finish_children,
    open_children,
    stage_chunk_children,
)
from sluice.lake import staging
from sluice.lake.commit import (
    Batch,
    CommitOutcome,
    CommitPlan,
    CommitTarget,
    Dedup,
    Fence,
    FileBatch,
    commit_batches,
)
from sluice.lake.held import parent_keys, stage_held
from sluice.lake.table import CommitResult, committed_batches
from sluice.runs.completeness import WARNING, TotalsCheck, add_read_sum, check
from sluice.runs.records import FileOutcome, FileStatus, RunReport
from sluice.sources.control import read_manifest
from sluice.sources.files import SourceFile, batch_id, sha256_of
from sluice.telemetry import stages
from sluice.validate.chunk import BatchContext, validate_chunk
from sluice.validate.contracts import Contract
from sluice.validate.explode import ensure_explodable

ENCODING_GUESSED = "encoding:guessed"  # warning: rows decoded under a guessed legacy code page


@dataclass(frozen=True)
class StageRequest:
    """Everything a worker needs to stage one file group (small and picklable)."""

    dataset: str
    contract: Contract
    run_id: str
    run_dir: str  # a local path, or an object-store prefix reached with ``staging_options``
    lake_uri: str
    ingest_date: date
    encoding: str | None = None
    chunk_rows: int = 250_000
    storage_options: dict[str, str] = field(default_factory=dict)
    lake_storage_options: dict[str, str] = field(default_factory=dict)
    protector: Protector | None = None  # the keys of the contract's protected columns (sluice.governance.protect)
    # The lake table of each child dataset of an exploded array, by dataset.
    child_lake_uris: dict[str, str] = field(default_factory=dict)
    staging_options: dict[str, str] = field(default_factory=dict)
    # The lake table of each dataset the contract's references point at, by dataset.
    reference_uris: dict[str, str] = field(default_factory=dict)

    def run_place(self) -> staging.StagePath:
        """The run's staging folder, local or on the object store."""
        return staging.location(self.run_dir, self.staging_options)

    def committed(self, batch: str) -> bool:
        """Whether the parent's table and every child's table record ``batch``."""
        uris = [self.lake_uri, *self.child_lake_uris.values()]
        return all(committed_batches(uri, [batch], self.lake_storage_options) for uri in uris)


def _latest(table: pa.Table, column: str) -> str:
    if table.num_rows == 0:
        return ""
    value = pc.max(table.column(column)).as_py()
    return value.isoformat() if value is not None else ""


def _source_totals(src: SourceFile, req: StageRequest) -> TotalsCheck | None:
    """The file's control totals under the contract's completeness policy, read side still empty; None when off."""
    spec = req.contract.completeness
    if not spec.on:
        return None
    totals = check(spec, src.uri, read_manifest(src.uri, req.storage_options), 0, {})
    totals.read_sum = 0.0 if spec.sum is not None else None
    return totals


def _stage_chunks(
    src: SourceFile,
    req: StageRequest,
    batch: staging.StagedBatch,
    encoding: str | EncodingChoice | None,
    out: FileOutcome,
    children: list[ChildStage],
) -> None:
    ensure_explodable(req.contract, src.format.value, src.uri)
    reader = open_reader(
        src,
        req.contract.column_names,
        encoding=encoding,
        chunk_rows=req.chunk_rows,
        storage_options=req.storage_options,
        dialect=req.contract.csv,
        paths=ColumnPaths.of(req.contract),
    )
    out.encoding = reader.layout.encoding
    ctx = BatchContext(req.dataset, req.run_id, out.batch_id, src.uri, req.ingest_date)
    parents = (
        parent_keys(req.contract, req.reference_uris.__getitem__, req.lake_storage_options)
        if req.contract.references and req.reference_uris
        else None
    )
    chunks = stages.traced_reads(reader.chunks(), req.run_id, req.dataset, lambda c: c.table.num_rows)
    for i, chunk in enumerate(chunks):
        with stages.stage(stages.VALIDATE, req.run_id, req.dataset) as span:
            result = validate_chunk(chunk, req.contract, ctx, protector=req.protector, parents=parents)
            span.set_attributes({stages.ROWS: result.rows_read, "sluice.quarantined": result.quarantine.num_rows})
        with stages.stage(stages.WRITE, req.run_id, req.dataset, rows=result.valid.num_rows):
            stage_chunk_children(children, chunk, result, ctx, i)
            out.partitions = sorted(set(out.partitions) | set(staging.write_valid(batch, result.valid, i)))
            staging.write_quarantine(batch, result.quarantine, i)
            if result.held is not None:
                out.rows_held += stage_held(batch, result.held, i, run_id=req.run_id, source_file=src.uri)
        out.rows_read += result.rows_read
        out.rows_valid += result.valid.num_rows
        out.rows_quarantined += result.quarantine.num_rows
        out.rows_orphaned += result.orphans
        out.watermark = max(out.watermark, _latest(result.valid, req.contract.partition.column))
        add_read_sum(out.totals, result.valid)
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
    One :data:`sluice.telemetry.stages.BATCH` span covers it.
    """
    with stages.stage(stages.BATCH, req.run_id, req.dataset, source=src.uri) as span:
        out = _stage_file(src, order, req)
        span.set_attributes({"sluice.status": out.status.value, stages.ROWS: out.rows_read})
        return out


def _stage_file(src: SourceFile, order: int, req: StageRequest) -> FileOutcome:
    started = time.perf_counter()
    out = FileOutcome(uri=src.uri, order=order, status=FileStatus.COMMITTED, bytes=src.size)
    out.sha256 = sha256_of(src.uri, req.storage_options)
    out.batch_id = batch_id(src.uri, out.sha256)
    if req.committed(out.batch_id):
        out.status = FileStatus.SKIPPED
        return out
    batch = staging.batch_dir(req.run_place(), order, out.batch_id)
    # The run's parameter wins over the contract; a file that turns out not to be UTF-8
    # after ASCII text is read once more under a flagged guess.
    encoding: str | EncodingChoice | None = req.encoding or req.contract.encoding
    for _attempt in range(3):
        staging.reset(batch)
        fresh = FileOutcome(
            uri=src.uri,
            order=order,
            status=FileStatus.COMMITTED,
            bytes=src.size,
            sha256=out.sha256,
            batch_id=out.batch_id,
        )
        children = open_children(req.contract, req.run_place(), fresh)
        try:
            try:
                fresh.totals = _source_totals(src, req)
                _stage_chunks(src, req, batch, encoding, fresh, children)
            except NeedsReencode as again:
                encoding = again.choice or redetect_encoding(src, req.storage_options)
                continue
        except (UnreadableFileError, SourceError) as exc:
            staging.reset(batch)
            fresh.status, fresh.error = FileStatus.FAILED, str(exc)
            fresh.rows_read = fresh.rows_valid = fresh.rows_quarantined = fresh.rows_held = fresh.rows_orphaned = 0
            fresh.partitions = []
        if fresh.status is FileStatus.COMMITTED:
            staging.mark_complete(batch)
        if fresh.totals is not None:
            fresh.totals.read_rows = fresh.rows_read
        finish_children(children, fresh)
        fresh.seconds = time.perf_counter() - started
        return fresh
    raise UnreadableFileError(f"{src.uri}: the encoding changed on every reading", hint="declare --encoding")


def file_batches(outcomes: list[FileOutcome]) -> list[Batch]:
    """The batches a run staged whole: one per file, with the counts staging made."""
    return [
        FileBatch(o.uri, o.sha256, o.rows_read, o.rows_quarantined)
        for o in outcomes
        if o.status is FileStatus.COMMITTED
    ]


def commit_target(req: StageRequest, quarantine_uri: str) -> CommitTarget:
    return CommitTarget(
        dataset=req.dataset,
        contract=req.contract,
        run_id=req.run_id,
        staging_dir=req.run_place(),
        lake_uri=req.lake_uri,
        quarantine_uri=quarantine_uri,
        storage_options=dict(req.lake_storage_options),
    )


def skip_committed_elsewhere(outcomes: list[FileOutcome], batch_ids: list[str]) -> None:
    """Mark files whose batches another run committed first as skipped: their rows are that run's to report."""
    taken = set(batch_ids)
    for out in outcomes:
        if out.status is FileStatus.COMMITTED and out.batch_id in taken:
            out.status = FileStatus.SKIPPED
            out.rows_read = out.rows_valid = out.rows_quarantined = out.rows_held = out.rows_orphaned = 0
            out.warnings, out.partitions, out.watermark = {}, [], ""


def commit_files(
    target: CommitTarget,
    outcomes: list[FileOutcome],
    *,
    metadata: dict[str, object],
    lease: Fence | None = None,
    dedup: Dedup | None = None,
) -> CommitOutcome:
    """Commit a file run's staged batches (:func:`sluice.lake.commit.commit_batches`).

    Files whose batches another run committed first are marked skipped.
    """
    batches = file_batches(outcomes)
    with stages.stage(stages.COMMIT, target.run_id, target.dataset, batches=len(batches)) as span:
        outcome = commit_batches(target, batches, metadata=metadata, lease=lease, dedup=dedup)
        span.set_attribute("sluice.skipped", len(outcome.skipped))
    skip_committed_elsewhere(outcomes, outcome.skipped)
    return outcome


def commit_children(
    target: CommitTarget,
    outcomes: list[FileOutcome],
    lake_uris: dict[str, str],
    *,
    metadata: dict[str, object],
    lease: Callable[[str], AbstractContextManager[Fence | None]],
) -> dict[str, CommitOutcome]:
    """Commit each child dataset's staged batches after the parent's, each under the child's own lease.

    The child's commit carries the file's batch id: a batch its table holds
    already is skipped (:func:`commit_files`), so a rerun after a stop between
    the parent's commit and the child's commits each child row exactly once.
    """
    results = {}
    for spec in target.contract.explode.values():
        mine = child_outcomes(outcomes, spec.dataset)
        staged = any(o.status is FileStatus.COMMITTED for o in mine)
        with lease(spec.dataset) if staged else contextlib.nullcontext() as held:
            results[spec.dataset] = commit_files(
                child_target(target, spec, lake_uris[spec.dataset]),
                mine,
                metadata={**metadata, "dataset": spec.dataset, "parent": target.dataset},
                lease=held,
            )
    return results


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
    return {name: sum(staging.file_size(p) for p in paths) for name, paths in plan.buckets.items()}


def _said(totals: TotalsCheck) -> str:
    return "control totals disagree: " + "; ".join(totals.differences)


def hold_back_incomplete(outcomes: list[FileOutcome]) -> list[FileOutcome]:
    """Files whose control totals disagree under the strict policy: marked failed, so they are not committed."""
    held = []
    for out in outcomes:
        totals = out.totals
        if (
            out.status is FileStatus.COMMITTED
            and totals is not None
            and totals.policy == "strict"
            and not totals.agrees
        ):
            out.status, out.error = FileStatus.FAILED, _said(totals)
            for child in out.children.values():  # the file's rows in exploded child datasets stay out too
                child.status, child.error = FileStatus.FAILED, out.error
            held.append(out)
    return held


def _record_totals(report: RunReport) -> None:
    report.control_totals = [
        f.totals
        for f in report.files
        if f.totals is not None
        and (f.status is FileStatus.COMMITTED or (f.status is FileStatus.FAILED and f.error == _said(f.totals)))
    ]
    disagree = sum(not c.agrees for c in report.control_totals if c.policy == "warn")
    if disagree:
        report.warnings[WARNING] = disagree


def finish_report(report: RunReport, outcomes: list[FileOutcome], result: CommitResult) -> None:
    """Fill a run's report from its staged outcomes and the lake commit: every count the run records."""
    report.files = sorted(outcomes, key=lambda o: o.order)
    done = report.files_committed
    report.rows_read = sum(f.rows_read for f in done)
    report.rows_quarantined = sum(f.rows_quarantined for f in done)
    report.rows_held = sum(f.rows_held for f in done)
    report.rows_orphaned = sum(f.rows_orphaned for f in done)
    report.rows_written = result.rows_written
    report.duplicates_in_run, report.duplicates_in_lake = result.duplicates_in_run, result.duplicates_in_lake
    report.rows_duplicate = result.duplicates_in_run + result.duplicates_in_lake
    report.rows_updated, report.rows_deleted = result.rows_updated, result.rows_deleted
    report.rows_unchanged = result.rows_unchanged
    report.bytes_read = sum(f.bytes for f in done)
    report.lake_version, report.partitions = result.version, result.partitions
    marks = [f.watermark for f in done if f.watermark]
    report.watermark = datetime.fromisoformat(max(marks)) if marks else None
    for f in done:
        for key, count in f.warnings.items():
            report.warnings[key] = report.warnings.get(key, 0) + count
    report.warnings.update(result.pii_warnings)
    _record_totals(report)
