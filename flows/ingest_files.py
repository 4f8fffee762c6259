"""Flow ``ingest-files``: files from a directory or S3 into the dataset's Delta table."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from typing import Any

from prefect import flow, get_run_logger
from prefect.concurrency.sync import concurrency
from prefect.futures import PrefectFuture, as_completed
from prefect.runtime import flow_run

from flows import progress
from flows.held_release import release_after
from flows.hooks import INCIDENT_HOOKS
from flows.observe import observed
from flows.runners import dask_task_runner
from sluice import ingest
from sluice.errors import IngestFailed
from sluice.governance.protect import protector_for
from sluice.ingest import (
    StageRequest,
    bucket_bytes,
    commit_files,
    commit_target,
    finish_report,
    hold_back_incomplete,
    split_evenly,
)
from sluice.ingest_children import child_outcomes, child_report
from sluice.lake import staging, staging_runs
from sluice.lake.commit import CommitOutcome, CommitPlan, CommitTarget
from sluice.lake.commit_size import commit_bytes
from sluice.lake.held import held_uri, store_held
from sluice.lake.lease import HeldLease, hold_lease, holder_name
from sluice.lake.table import DedupedBucket, table_uri
from sluice.paths import ensure_dataset_name, is_dataset_name, shown
from sluice.runs.completeness import ensure_complete
from sluice.runs.metastore import engine_for
from sluice.runs.records import FileOutcome, FileStatus, RunReport, ensure_conserved
from sluice.runs.usage import add_usage, bucket_region, read_measure, source_kind
from sluice.settings import Settings, get_settings
from sluice.sources.files import SourceFile, group_files
from sluice.validate.contracts import Contract, find_contract
from sluice.validate.references import holds
from tasks.artifacts import RunArtifacts
from tasks.events import emit_committed
from tasks.ingest import dedup_bucket_group, list_source, stage_file_group
from tasks.profile import profile_run
from tasks.records import publish_artifacts, record_failure, record_run
from tasks.verify import verify_commit


def _source_options(storage_options: dict[str, Any] | None, aws_credentials_block: str | None) -> dict[str, Any]:
    opts = dict(get_settings().storage_options)
    if aws_credentials_block:
        from prefect_aws import AwsCredentials

        from sluice.sources.s3 import fsspec_options

        opts.update(fsspec_options(AwsCredentials.load(aws_credentials_block)))
    opts.update(storage_options or {})
    return opts


def _printable(text: str) -> str:
    return text.replace("\x00", "\\x00")


def _dedup_on_workers(target: CommitTarget, parts: int, plan: CommitPlan) -> list[DedupedBucket]:
    """A plan's deduplication as one task per share of its date buckets, balanced by staged bytes."""
    shares = split_evenly(list(plan.buckets), parts, bucket_bytes(plan))
    futures = [dedup_bucket_group.submit(target, plan, names, part=i) for i, names in enumerate(shares)]
    return [b for fut in futures for b in fut.result()]


def _staged(futures: list[PrefectFuture[list[FileOutcome]]], dataset: str) -> list[FileOutcome]:
    """Every group's outcomes, in file order; each group is reported to progress listeners as it finishes."""
    position = {id(fut): i for i, fut in enumerate(futures)}
    groups: dict[int, list[FileOutcome]] = {}
    for fut in as_completed(futures):
        groups[position[id(fut)]] = group = fut.result()
        progress.staged(dataset, group)
    return [o for i in range(len(futures)) for o in groups[i]]


def _lease(settings: Settings, run_id: str, dataset: str) -> contextlib.AbstractContextManager[HeldLease]:
    return hold_lease(
        engine_for(settings.metadata_db_url()),
        dataset,
        holder_name(run_id),
        ttl_s=settings.lease_ttl_seconds,
        wait_s=settings.lease_wait_seconds,
    )


def _children(
    settings: Settings, report: RunReport, target: CommitTarget, outcomes: list[FileOutcome], uris: dict[str, str]
) -> list[RunReport]:
    """Commit the child datasets of the contract's exploded arrays after the parent; one run record each."""
    if not uris:
        return []
    metadata: dict[str, object] = {"run_id": report.run_id, "env": settings.env}
    results = ingest.commit_children(
        target, outcomes, uris, metadata=metadata, lease=partial(_lease, settings, report.run_id)
    )
    reports = []
    for i, (dataset, outcome) in enumerate(results.items(), start=1):
        child = child_report(report, i, dataset)
        finish_report(child, child_outcomes(outcomes, dataset), outcome.lake)
        child.finished_at, child.status = datetime.now(timezone.utc), "completed"
        ensure_conserved(child)
        record_run(child, settings.metadata_db_url())
        reports.append(child)
    return reports


@dataclass(frozen=True)
class CommitRun:
    """A run's commit and the CPU seconds the committing thread spent on it."""

    outcome: CommitOutcome
    cpu_seconds: float


@dataclass(frozen=True)
class _Opened:
    """What a run has before it reads: its contract, source options and files, and its staging folder."""

    contract: Contract
    opts: dict[str, Any]
    files: list[SourceFile]
    run_dir: staging.StagePath
    protector: Any


def _new_report(dataset: str, source: str, run_id: str, env: str) -> RunReport:
    report = RunReport(
        run_id=run_id,
        dataset=dataset if is_dataset_name(dataset) else shown(dataset),
        source=_printable(source),
        env=env,
        started_at=datetime.now(timezone.utc),
        flow="ingest-files",
        source_kind=source_kind(source),
    )
    report.read_measure = read_measure(report.source_kind)
    return report


def _open(
    report: RunReport,
    dataset: str,
    source: str,
    pattern: str,
    storage_options: dict[str, Any] | None,
    aws_credentials_block: str | None,
) -> _Opened:
    """The contract, the source's files and the run's staging folder; a failure is recorded on the run first."""
    settings = get_settings()
    try:
        contract = find_contract(ensure_dataset_name(dataset), settings.contracts_root())
        protector = protector_for(contract, settings)
        opts = _source_options(storage_options, aws_credentials_block)
        report.source_region = bucket_region(source, opts)
        files = list_source(source, pattern, opts)
        staging_root = staging.location(settings.staging_location(), settings.lake_storage_options)
        run_dir, cleanup = staging_runs.open_run(staging_root, report.run_id, stale_hours=settings.staging_stale_hours)
    except Exception as exc:
        record_failure(report, exc, settings.metadata_db_url())
        raise
    progress.listed(dataset, files)
    if cleanup.removed:
        get_run_logger().info("staging: %s", cleanup.summary())
    return _Opened(contract, opts, files, run_dir, protector)


def _request(report: RunReport, opened: _Opened, encoding: str | None) -> StageRequest:
    settings, contract = get_settings(), opened.contract
    return StageRequest(
        dataset=report.dataset,
        contract=contract,
        run_id=report.run_id,
        run_dir=str(opened.run_dir),
        lake_uri=table_uri(settings.lake_root(), report.dataset),
        ingest_date=report.started_at.date(),
        encoding=encoding,
        chunk_rows=settings.rows_per_chunk(),
        storage_options=opened.opts,
        lake_storage_options=dict(settings.lake_storage_options),
        child_lake_uris={s.dataset: table_uri(settings.lake_root(), s.dataset) for s in contract.explode.values()},
        reference_uris={r.dataset: table_uri(settings.lake_root(), r.dataset) for r in contract.references},
        protector=opened.protector,
        staging_options=staging.options_of(opened.run_dir),
    )


def _stage(req: StageRequest, files: list[SourceFile]) -> list[FileOutcome]:
    """Read, validate and stage ``files`` in groups on the task runner's workers."""
    settings = get_settings()
    groups = group_files(files, settings.group_bytes, settings.dask_workers)
    order = {f.uri: i for i, f in enumerate(files)}
    get_run_logger().info("ingesting %d file(s) of %s in %d group(s)", len(files), req.dataset, len(groups))
    futures = [
        stage_file_group.submit([(order[f.uri], f) for f in g], req, dataset=req.dataset, group=i)
        for i, g in enumerate(groups)
    ]
    return _staged(futures, req.dataset)


def _commit(
    report: RunReport, req: StageRequest, target: CommitTarget, outcomes: list[FileOutcome], run_dir: staging.StagePath
) -> CommitRun:
    """Commit the staged files under the dataset's lease (a run with nothing to commit waits for no one)."""
    settings, clock = get_settings(), time.perf_counter()
    lease = (
        _lease(settings, report.run_id, req.dataset)
        if any(o.status is FileStatus.COMMITTED for o in outcomes)
        else contextlib.nullcontext()
    )
    with lease as held:
        report.stage_seconds["lease_wait"] = time.perf_counter() - clock
        commit_cpu = time.thread_time()
        if holds(req.contract):  # held rows are stored before their batches commit (sluice.lake.held)
            staged = [o.batch_id for o in outcomes if o.status is FileStatus.COMMITTED]
            store_held(
                held_uri(settings.lake_root(), req.dataset),
                run_dir,
                staged,
                req.lake_storage_options,
                contract=req.contract,
            )
        outcome = commit_files(
            target,
            outcomes,
            lease=held,
            metadata={"run_id": report.run_id, "dataset": req.dataset, "env": settings.env},
            dedup=partial(_dedup_on_workers, target, max(settings.dask_workers, 2)),
        )
    return CommitRun(outcome, time.thread_time() - commit_cpu)


def _account(report: RunReport, req: StageRequest, outcomes: list[FileOutcome], done: CommitRun) -> None:
    """The run's counts, usage and status from its files and commit; a run that does not add up is recorded failed."""
    finish_report(report, outcomes, done.outcome.lake)
    add_usage(report, done.cpu_seconds)
    report.bytes_written = commit_bytes(req.lake_uri, report.lake_version, report.run_id, req.lake_storage_options)
    progress.committed(report)
    report.finished_at = datetime.now(timezone.utc)
    report.status = "failed" if report.files_failed else "completed"
    try:
        ensure_conserved(report)
    except Exception as exc:
        report.status, report.error = "failed", str(exc)
        record_run(report, get_settings().metadata_db_url())
        raise
    if report.files_failed:
        report.error = "; ".join(f"{f.uri}: {f.error}" for f in report.files_failed)


def _log_counts(reports: list[RunReport]) -> None:
    for r in reports:
        get_run_logger().info(
            "%s: read %d, wrote %d, quarantined %d, duplicate %d",
            r.dataset,
            r.rows_read,
            r.rows_written,
            r.rows_quarantined,
            r.rows_duplicate,
        )


def _ingest(
    dataset: str,
    source: str,
    pattern: str,
    encoding: str | None,
    storage_options: dict[str, Any] | None,
    aws_credentials_block: str | None,
) -> RunReport:
    settings = get_settings()
    report = _new_report(dataset, source, str(flow_run.get_id() or f"local-{int(time.time())}"), settings.env)
    clock = time.perf_counter()
    opened = _open(report, dataset, source, pattern, storage_options, aws_credentials_block)
    req = _request(report, opened, encoding)
    outcomes = _stage(req, opened.files)
    # Under the strict completeness policy, a file whose control totals disagree is not committed.
    held_back = hold_back_incomplete(outcomes)
    report.stage_seconds["read_validate_stage"] = time.perf_counter() - clock
    target = commit_target(req, settings.quarantine_root())
    done = _commit(report, req, target, outcomes, opened.run_dir)
    report.stage_seconds.update(done.outcome.seconds)
    children = _children(settings, report, target, outcomes, req.child_lake_uris)
    _account(report, req, outcomes, done)
    # A commit that fails a check of the contract's verify block is rolled back; the run fails with the reason.
    review = verify_commit(report, opened.contract, target.lake_uri) if done.outcome.committed else None
    if review is not None and review.failed:
        review.apply(report)
    elif done.outcome.committed:
        emit_committed(report)
        profile_run(report, req.lake_uri, req.lake_storage_options)
    record_run(report, settings.metadata_db_url())
    publish_artifacts(report, RunArtifacts.current(settings.env))
    rolled_back = review is not None and review.failed
    releases = [] if rolled_back else release_after(settings, report, opened.contract, opened.run_dir)
    staging.remove_run(opened.run_dir)
    _log_counts([report, *children, *releases])
    if review is not None and review.failed:
        raise review.error(dataset, report.lake_version)
    if held_back:
        ensure_complete(dataset, report.control_totals)
    if report.files_failed:
        raise IngestFailed(
            f"{len(report.files_failed)} file(s) of {dataset} could not be read: {report.error}",
            hint="the other files were committed; fix or re-deliver these and rerun",
        )
    return report


@contextlib.contextmanager
def _slot(name: str | None) -> Iterator[None]:
    """A slot of the global concurrency limit ``name`` for the block (none when ``None``); waits for a free one."""
    if name is None:
        yield
        return
    with concurrency(name, occupy=1, strict=True):
        yield


# prefect-dask subclasses a bare TaskRunner, which its type default makes a TaskRunner of thread futures.
@flow(name="ingest-files", task_runner=dask_task_runner(), log_prints=False, **INCIDENT_HOOKS)  # type: ignore[arg-type]
@observed("ingest-files", "dataset")
def ingest_files(
    dataset: str,
    source: str,
    pattern: str = "*",
    encoding: str | None = None,
    storage_options: dict[str, Any] | None = None,
    aws_credentials_block: str | None = None,
    concurrency_slot: str | None = None,
) -> RunReport:
    """Ingest every file under ``source`` matching ``pattern`` into ``dataset``.

    Valid rows land, deduplicated, in the dataset's Delta table; invalid rows
    go to the quarantine with their reason. Files committed by earlier runs are
    skipped. Fails if a file cannot be read (after committing the others) or
    if the run's row counts do not add up. With ``concurrency_slot``, the
    run first takes a slot of that Prefect global concurrency limit (``ops
    backfill`` names ``backfill-DATASET``) and holds it to the end; a limit
    that does not exist fails the run.
    """
    with _slot(concurrency_slot):
        return _ingest(dataset, source, pattern, encoding, storage_options, aws_credentials_block)
