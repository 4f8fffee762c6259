"""Tasks of the file-ingestion flow."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict

from prefect import task
from prefect.cache_policies import NO_CACHE, CachePolicy
from prefect.tasks import RetryConditionCallable, exponential_backoff

from sluice.ingest import StageRequest, stage_file
from sluice.lake.commit import CommitPlan, CommitTarget, dedup_buckets
from sluice.lake.table import DedupedBucket
from sluice.runs.records import FileOutcome
from sluice.sources.files import SourceFile, list_source_files
from tasks.retry import retry_transient


class _Retries(TypedDict):
    """The retry settings every task here takes, as ``@task(..., **_RETRY)`` keyword arguments."""

    retries: int
    retry_delay_seconds: Callable[[int], list[float]]
    retry_jitter_factor: float
    retry_condition_fn: RetryConditionCallable
    cache_policy: CachePolicy


_RETRY: _Retries = dict(
    retries=3,
    retry_delay_seconds=exponential_backoff(backoff_factor=2),
    retry_jitter_factor=0.5,
    retry_condition_fn=retry_transient,
    cache_policy=NO_CACHE,
)


@task(name="list-source", task_run_name="list-{source}", **_RETRY)
def list_source(source: str, pattern: str, storage_options: dict[str, Any]) -> list[SourceFile]:
    """The files to ingest; an unreachable source is retried with backoff before the run gives up."""
    return list_source_files(source, pattern, storage_options)


@task(name="stage-file-group", task_run_name="stage-{dataset}-group-{group}", **_RETRY)
def stage_file_group(
    files: list[tuple[int, SourceFile]], req: StageRequest, *, dataset: str, group: int
) -> list[FileOutcome]:
    """Read, validate and stage one group of files (one task per group, never per row)."""
    return [stage_file(src, order, req) for order, src in files]


@task(name="dedup-buckets", task_run_name="dedup-{target.dataset}-{part}", **_RETRY)
def dedup_bucket_group(target: CommitTarget, plan: CommitPlan, names: list[str], *, part: int) -> list[DedupedBucket]:
    """Deduplicate a share of a commit plan's date buckets on a worker."""
    return dedup_buckets(target, plan, names)
