"""Flow ``lake-maintenance``: vacuum orphaned files and clear stale staging runs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.hooks import INCIDENT_HOOKS
from sluice.lake import staging
from sluice.lake.log import vacuum
from sluice.lake.quarantine import purge_before
from sluice.lake.table import open_table, table_uri
from sluice.paths import is_dataset_name
from sluice.settings import get_settings
from sluice.validate.contracts import available_contracts


@task(name="vacuum-table", cache_policy=NO_CACHE)
def vacuum_table(uri: str, retention_hours: int, storage_options: dict[str, str]) -> int:
    """Remove files no commit references (including orphans of killed writers)."""
    if open_table(uri, storage_options) is None:
        return 0
    return len(vacuum(uri, retention_hours=retention_hours, dry_run=False, storage_options=storage_options))


@task(name="purge-quarantine", cache_policy=NO_CACHE)
def purge_quarantine(uri: str, retention_days: int, storage_options: dict[str, str]) -> int:
    """Delete quarantine entries ingested more than ``retention_days`` ago; the vacuum then removes their files."""
    cutoff = datetime.now(timezone.utc).date() - timedelta(days=retention_days)
    deleted = purge_before(uri, cutoff, storage_options)
    get_run_logger().info("quarantine: deleted %d entries ingested before %s", deleted, cutoff)
    return deleted


@task(name="clear-stale-staging", cache_policy=NO_CACHE)
def clear_stale_staging(stale_hours: float) -> staging.StagingCleanup:
    """Remove staging folders of runs that are gone (killed runs); never one of a run still running."""
    cleanup = staging.remove_stale_runs(get_settings().staging_root(), stale_hours=stale_hours)
    get_run_logger().info("staging: %s", cleanup.summary())
    return cleanup


@flow(name="lake-maintenance", **INCIDENT_HOOKS)
def lake_maintenance(retention_hours: int = 168, staging_max_age_hours: float | None = None) -> dict[str, int]:
    """Vacuum every dataset table and the quarantine; clear stale staging.

    With ``SLUICE_QUARANTINE_RETENTION_DAYS`` set, quarantine entries ingested
    earlier than that are deleted first; their files go with the vacuum once
    ``retention_hours`` have passed.

    ``staging_max_age_hours`` (default ``SLUICE_STAGING_STALE_HOURS``) applies
    to folders of runs on other hosts; see :func:`sluice.lake.staging.remove_stale_runs`.
    """
    settings = get_settings()
    log = get_run_logger()
    opts = dict(settings.lake_storage_options)
    names = available_contracts(settings.contracts_root())
    for name in (n for n in names if not is_dataset_name(n)):
        log.warning("skipping contract file %r: not a valid dataset name", name)
    removed = {
        name: vacuum_table(table_uri(settings.lake_root(), name), retention_hours, opts)
        for name in names
        if is_dataset_name(name)
    }
    if settings.quarantine_retention_days is not None:
        removed["quarantine_purged"] = purge_quarantine(
            settings.quarantine_root(), settings.quarantine_retention_days, opts
        )
    removed["quarantine"] = vacuum_table(settings.quarantine_root(), retention_hours, opts)
    cleanup = clear_stale_staging(staging_max_age_hours or settings.staging_stale_hours)
    removed["staging_runs"] = len(cleanup.removed)
    removed["staging_bytes_freed"] = cleanup.bytes_freed
    log.info("maintenance removed %s", removed)
    return removed
