"""Keeping a table's daily aggregates up to date: only the days changed since the version last consumed.

The aggregates table records, in the metadata of each of its commits, the
source table's version it reflects (``sluice.aggregates``: source and
``source_version``). A build reads the source's newest version, the days
whose files changed since the consumed version (:func:`changed_days`),
recomputes those days from the source's rows and merges them into the
aggregates: rows of those days are updated, inserted or deleted, no other
day is touched. The first build, or one whose consumed version's log is
gone, recomputes every day and overwrites the table.

One build commits at a time: the caller holds the aggregates' lease and
``check`` (called just before the commit) raises if it was lost.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError

from sluice.aggregates.daily import AGGREGATE_SCHEMA, KEY, aggregate_days, changed_days, read_days
from sluice.errors import LakeConflictError, LakeError
from sluice.lake.lease import hold_lease
from sluice.lake.table import newest_metadata, open_table, table_uri
from sluice.lake.write import commit_metadata
from sluice.paths import ensure_dataset_name
from sluice.runs.metastore import engine_for
from sluice.settings import Settings
from sluice.validate.chunk import PARTITION

META_KEY = "aggregates"
SUFFIX = "_daily"


@dataclass(frozen=True)
class BuildResult:
    """What a build did: the source version the aggregates reflect and the days it recomputed."""

    source: str
    source_version: int
    consumed_before: int | None
    full: bool
    days: int
    rows: int
    version: int | None

    @property
    def changed(self) -> bool:
        return self.version is not None


def consumed_version(target_uri: str, source: str, storage_options: dict[str, str] | None = None) -> int | None:
    """The version of ``source`` the aggregates at ``target_uri`` reflect (``None``: never built)."""
    meta = newest_metadata(target_uri, META_KEY, lambda m: m.get("source") == source, storage_options)
    if meta is None or not isinstance(meta.get("source_version"), int):
        return None
    return int(meta["source_version"])


def recompute(source_uri: str, version: int | None = None, storage_options: dict[str, str] | None = None) -> pa.Table:
    """Every day's aggregates of the source at ``version`` (the newest when ``None``), from scratch."""
    table = DeltaTable(source_uri, version=version, storage_options=storage_options or None)
    return aggregate_days(read_days(table, None))


def _day_list(days: set[date]) -> str:
    return ", ".join(f"CAST('{d.isoformat()}' AS DATE)" for d in sorted(days))


def _commit(
    target_uri: str, fresh: pa.Table, days: set[date] | None, meta: dict[str, object], opts: dict[str, str] | None
) -> int:
    props = CommitProperties(custom_metadata=commit_metadata({META_KEY: meta}))
    target = open_table(target_uri, opts)
    if target is None or days is None:
        write_deltalake(target_uri, fresh, mode="overwrite", storage_options=opts or None, commit_properties=props)
    else:
        predicate = " AND ".join(f"t.{k} = s.{k}" for k in KEY)
        (
            target.merge(fresh, predicate, source_alias="s", target_alias="t", commit_properties=props)
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .when_not_matched_by_source_delete(f"t.{PARTITION} IN ({_day_list(days)})")
            .execute()
        )
    return DeltaTable(target_uri, storage_options=opts or None).version()


def build(
    source: str,
    source_uri: str,
    target_uri: str,
    *,
    check: Callable[[], None] = lambda: None,
    storage_options: dict[str, str] | None = None,
) -> BuildResult:
    """Bring the aggregates at ``target_uri`` up to the newest version of ``source`` (at ``source_uri``).

    Raises:
        LakeError: the source has no table, or a table cannot be read or written.
    """
    table = open_table(source_uri, storage_options)
    if table is None:
        raise LakeError(f"{source} has no table at {source_uri}", hint=f"ingest {source} first")
    until = table.version()
    since = consumed_version(target_uri, source, storage_options)
    if since == until:
        return BuildResult(source, until, since, False, 0, 0, None)
    days = None if since is None else changed_days(source_uri, since, until, storage_options)
    if days is not None and not days:
        return BuildResult(source, until, since, False, 0, 0, None)
    rows = read_days(table, days)
    fresh = aggregate_days(rows).cast(AGGREGATE_SCHEMA)
    check()
    meta: dict[str, object] = {"source": source, "source_version": until, "since": since}
    try:
        version = _commit(target_uri, fresh, days, meta, storage_options)
    except CommitFailedError as exc:
        raise LakeConflictError(
            f"another writer committed to {target_uri} during this build: {exc}",
            hint="builds take turns through the aggregates' lease; run the build again",
        ) from None
    except (DeltaError, OSError) as exc:
        raise LakeError(f"cannot write the aggregates at {target_uri}: {exc}", hint="check the lake path") from None
    touched = len(set(fresh.column(PARTITION).to_pylist())) if days is None else len(days)
    return BuildResult(source, until, since, days is None, touched, rows.num_rows, version)


def aggregates_name(source: str) -> str:
    """The aggregates dataset of ``source`` (``orders`` gives ``orders_daily``).

    Raises:
        ConfigError: ``source`` is not a dataset name, or the aggregates' name would be too long.
    """
    return ensure_dataset_name(f"{ensure_dataset_name(source)}{SUFFIX}")


def build_leased(source: str, settings: Settings, holder: str) -> BuildResult:
    """:func:`build` of ``source``'s aggregates in the lake of ``settings``, holding the aggregates' lease.

    Raises:
        LeaseTimeoutError: another build held the lease for ``SLUICE_LEASE_WAIT_SECONDS``.
    """
    target = aggregates_name(source)
    lease = hold_lease(
        engine_for(settings.metadata_db_url()),
        target,
        holder,
        ttl_s=settings.lease_ttl_seconds,
        wait_s=settings.lease_wait_seconds,
    )
    with lease as held:
        return build(
            source,
            table_uri(settings.lake_root(), source),
            table_uri(settings.lake_root(), target),
            check=held.ensure_held,
            storage_options=dict(settings.lake_storage_options),
        )
