"""Flow ``lake-maintenance``: vacuum orphaned files and clear stale staging runs."""

from __future__ import annotations

import shutil
import time

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.hooks import INCIDENT_HOOKS
from sluice.contracts import available_contracts
from sluice.lake import open_table, table_uri
from sluice.lake_log import vacuum
from sluice.settings import get_settings


@task(name="vacuum-table", cache_policy=NO_CACHE)
def vacuum_table(uri: str, retention_hours: int, storage_options: dict[str, str]) -> int:
    """Remove files no commit references (including orphans of killed writers)."""
    if open_table(uri, storage_options) is None:
        return 0
    return len(vacuum(uri, retention_hours=retention_hours, dry_run=False, storage_options=storage_options))


@task(name="clear-stale-staging", cache_policy=NO_CACHE)
def clear_stale_staging(max_age_hours: int) -> int:
    """Remove staging folders of runs older than ``max_age_hours`` (crashed runs)."""
    root = get_settings().staging_root()
    if not root.exists():
        return 0
    cutoff = time.time() - max_age_hours * 3600
    stale = [p for p in root.iterdir() if p.is_dir() and p.stat().st_mtime < cutoff]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return len(stale)


@flow(name="lake-maintenance", **INCIDENT_HOOKS)
def lake_maintenance(retention_hours: int = 168, staging_max_age_hours: int = 24) -> dict[str, int]:
    """Vacuum every dataset table and the quarantine; clear stale staging."""
    settings = get_settings()
    opts = dict(settings.lake_storage_options)
    removed = {name: vacuum_table(table_uri(settings.lake_root(), name), retention_hours, opts)
               for name in available_contracts(settings.contracts_root())}
    removed["quarantine"] = vacuum_table(settings.quarantine_root(), retention_hours, opts)
    removed["staging_runs"] = clear_stale_staging(staging_max_age_hours)
    get_run_logger().info("maintenance removed %s", removed)
    return removed
