"""Tasks of the table-ingestion flow: describe a source, stage a key range or an increment, load a Secret."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from sluice.runs.records import FileOutcome
from sluice.sources.database_keyset import Position
from sluice.sources.database_read import KeyRange, Snapshot, TableSpec, describe
from sluice.sources.database_stage import TableRequest, stage_incremental, stage_range
from sluice.sources.database_types import SourceColumn
from tasks.retry import TRANSIENT_RETRIES

# Only transient errors (an unreachable server) are retried; credentials, missing tables and types are not.


@task(name="secret-url", cache_policy=NO_CACHE)
def secret_url(block: str) -> str:
    """The connection URL kept in a Prefect Secret block (never logged)."""
    from prefect.blocks.system import Secret

    secret = Secret.load(block)  # typed "block or coroutine": Prefect dispatches on the caller being async
    if not isinstance(secret, Secret):
        raise TypeError("Secret.load returned an awaitable: called from async code")
    return str(secret.get())


@task(name="describe-table", task_run_name="describe-{spec.contract.name}", **TRANSIENT_RETRIES)
def describe_source(spec: TableSpec) -> dict[str, SourceColumn]:
    """Every contract column's source column: a type without a mapping fails here, before any row is read."""
    return describe(spec)


@task(name="stage-key-range", task_run_name="stage-{dataset}-range-{order}", **TRANSIENT_RETRIES)
def stage_key_range(req: TableRequest, snapshot: Snapshot, rng: KeyRange, order: int, *, dataset: str) -> FileOutcome:
    """Read, validate and stage one primary-key range inside the run's snapshot."""
    return stage_range(req, snapshot, rng, order)


@task(name="stage-increment", task_run_name="stage-{dataset}-increment", **TRANSIENT_RETRIES)
def stage_increment(
    req: TableRequest, previous: Position | None, lookback: float, *, dataset: str
) -> FileOutcome | None:
    """Read, validate and stage the rows after the lake's position (and its look-back)."""
    return stage_incremental(req, previous, lookback)
