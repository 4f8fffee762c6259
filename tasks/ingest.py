"""Tasks of the file-ingestion flow."""

from __future__ import annotations

from functools import partial
from typing import Any

from prefect import task

from sluice.ingest import StageRequest, stage_file
from sluice.lake.commit import CommitPlan, CommitTarget, dedup_buckets
from sluice.lake.table import DedupedBucket
from sluice.runs.records import FileOutcome
from sluice.runs.usage import measured
from sluice.sources.files import SourceFile, list_source_files
from tasks.retry import TRANSIENT_RETRIES


@task(name="list-source", task_run_name="list-{source}", **TRANSIENT_RETRIES)
def list_source(source: str, pattern: str, storage_options: dict[str, Any]) -> list[SourceFile]:
    """The files to ingest; an unreachable source is retried with backoff before the run gives up."""
    return list_source_files(source, pattern, storage_options)


@task(name="stage-file-group", task_run_name="stage-{dataset}-group-{group}", **TRANSIENT_RETRIES)
def stage_file_group(
    files: list[tuple[int, SourceFile]], req: StageRequest, *, dataset: str, group: int
) -> list[FileOutcome]:
    """Read, validate and stage one group of files (one task per group, never per row), each measured."""
    return [measured(partial(stage_file, src, order, req)) for order, src in files]


@task(name="dedup-buckets", task_run_name="dedup-{target.dataset}-{part}", **TRANSIENT_RETRIES)
def dedup_bucket_group(target: CommitTarget, plan: CommitPlan, names: list[str], *, part: int) -> list[DedupedBucket]:
    """Deduplicate a share of a commit plan's date buckets on a worker."""
    return dedup_buckets(target, plan, names)
