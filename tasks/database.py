"""Tasks of the table-ingestion flow: load a connection from a Secret, describe a source, stage a range or increment."""

from __future__ import annotations

from functools import partial

from prefect import task
from prefect.cache_policies import NO_CACHE

from sluice.errors import ConfigError
from sluice.runs.records import FileOutcome
from sluice.runs.usage import measured
from sluice.sources.database import DatabaseUrl, from_secret
from sluice.sources.database_keyset import Position
from sluice.sources.database_read import KeyRange, Snapshot, TableSpec, describe
from sluice.sources.database_stage import TableRequest, stage_incremental, stage_range
from sluice.sources.database_types import SourceColumn
from tasks.retry import TRANSIENT_RETRIES

# Only transient errors (an unreachable server) are retried; credentials, missing tables and types are not.


@task(name="secret-connection", cache_policy=NO_CACHE, persist_result=False)
def secret_connection(block: str) -> DatabaseUrl:
    """The connection kept in a Prefect Secret block: its URL, or a JSON object with the URL and an SSH key.

    The value is never logged, and the result is not persisted (it holds the password).
    """
    from prefect.blocks.system import Secret

    try:
        secret = Secret.load(block)  # typed "block or coroutine": Prefect dispatches on the caller being async
    except ValueError:
        raise ConfigError(
            f"no Prefect Secret block named {block!r}",
            hint="create it (prefect block create secret, or Secret(value=URL).save(NAME)) or fix secret_block",
        ) from None
    if not isinstance(secret, Secret):
        raise TypeError("Secret.load returned an awaitable: called from async code")
    return from_secret(secret.get())


@task(name="describe-table", task_run_name="describe-{spec.contract.name}", **TRANSIENT_RETRIES)
def describe_source(spec: TableSpec) -> dict[str, SourceColumn]:
    """Every contract column's source column: a type without a mapping fails here, before any row is read."""
    return describe(spec)


@task(name="stage-key-range", task_run_name="stage-{dataset}-range-{order}", **TRANSIENT_RETRIES)
def stage_key_range(req: TableRequest, snapshot: Snapshot, rng: KeyRange, order: int, *, dataset: str) -> FileOutcome:
    """Read, validate and stage one primary-key range inside the run's snapshot."""
    return measured(partial(stage_range, req, snapshot, rng, order))


@task(name="stage-increment", task_run_name="stage-{dataset}-increment", **TRANSIENT_RETRIES)
def stage_increment(
    req: TableRequest, previous: Position | None, lookback: float, *, dataset: str
) -> FileOutcome | None:
    """Read, validate and stage the rows after the lake's position (and its look-back)."""
    return measured(partial(stage_incremental, req, previous, lookback))
