"""Flow ``lake-maintenance``: retention deletes, compaction and Z-order, vacuum of orphaned files, erasure certificates,
stale staging, and held rows whose parent landed or whose wait is over (``references: policy: hold``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from flows.held_release import release_each
from flows.hooks import INCIDENT_HOOKS
from sluice.access.audit import compact_audit
from sluice.errors import LakeError
from sluice.lake import staging, staging_runs
from sluice.lake.log import vacuum
from sluice.lake.maintain import OptimizeResult
from sluice.lake.maintain_dataset import layout_plan, optimize_dataset
from sluice.lake.quarantine import purge_before
from sluice.lake.table import open_table, table_uri
from sluice.paths import is_dataset_name
from sluice.retention.policies import RetentionOutcome
from sluice.retention.service import complete_certificates, retention_pass
from sluice.runs.records import RunReport
from sluice.settings import get_settings
from sluice.validate.contracts import available_contracts
from sluice.validate.held_contracts import holding_contracts


@dataclass(frozen=True)
class MaintenanceResult:
    """Files removed per table (and staging), retention per dataset, erasure certificates completed."""

    removed: dict[str, int]
    retention: list[RetentionOutcome] = field(default_factory=list)
    certificates_completed: list[str] = field(default_factory=list)
    optimized: dict[str, OptimizeResult] = field(default_factory=dict)
    releases: list[RunReport] = field(default_factory=list)  # releases of held rows, one run record each

    @property
    def held(self) -> list[RetentionOutcome]:
        return [r for r in self.retention if r.held_by]


@task(name="apply-retention", cache_policy=NO_CACHE)
def apply_retention_policies() -> list[RetentionOutcome]:
    """Delete rows older than each dataset's policy, except in datasets under a legal hold."""
    outcomes = retention_pass(get_settings(), datetime.now(timezone.utc).date())
    log = get_run_logger()
    for outcome in outcomes:
        (log.warning if outcome.held_by else log.info)("retention: %s", outcome.summary)
    return outcomes


@task(name="optimize-table", cache_policy=NO_CACHE)
def optimize_table_task(dataset: str) -> OptimizeResult | None:
    """Compact (or Z-order, as the contract says) a dataset's crowded dates under its lease, then checkpoint."""
    settings = get_settings()
    if open_table(table_uri(settings.lake_root(), dataset), dict(settings.lake_storage_options)) is None:
        return None
    run_id = str(flow_run.id) if flow_run.id else "lake-maintenance"
    result = optimize_dataset(settings, layout_plan(settings, dataset), run_id=run_id)
    get_run_logger().info("%s: %s", dataset, result.summary)
    return result


@task(name="compact-audit", cache_policy=NO_CACHE)
def compact_audit_task() -> OptimizeResult | None:
    """Compact the access audit's small files (one per governed read); its rows and append-only rule stay."""
    result = compact_audit()
    if result is not None:
        get_run_logger().info("access audit: %s", result.summary)
    return result


def _optimize_all(names: list[str]) -> tuple[dict[str, OptimizeResult], list[str]]:
    """Optimize each dataset; one that fails (its hint logged) does not stop the others."""
    done, failed = {}, []
    for name in names:
        state = optimize_table_task(name, return_state=True)
        if state.is_failed():
            failed.append(name)
            continue
        if (result := state.result()) is not None:
            done[name] = result
    return done, failed


@task(name="release-held-rows", cache_policy=NO_CACHE)
def release_held_rows() -> list[RunReport]:
    """Release every held row whose parent landed, and quarantine those past their ``hold_timeout``.

    Each dataset's release runs under its lease and is recorded as a ``release-held`` run; it happens
    once whoever gets there first (an ingestion of the dataset or its parent, or this step). It also
    purges held rows of batches that never committed, once stored longer ago than the staging stale
    hours (:mod:`sluice.lake.held_scan`).
    """
    settings = get_settings()
    contracts = holding_contracts(settings.contracts_root())
    if not contracts:
        return []
    run_id = str(flow_run.id) if flow_run.id else f"lake-maintenance-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}"
    base = RunReport(run_id, "", "lake-maintenance", settings.env, datetime.now(timezone.utc))
    root = staging.location(settings.staging_location(), settings.lake_storage_options)
    run_dir, _ = staging_runs.open_run(root, base.run_id, stale_hours=settings.staging_stale_hours)
    try:
        reports = release_each(settings, base, contracts, run_dir)
    finally:
        staging.remove_run(run_dir)
    for r in reports:
        get_run_logger().info(
            "held rows of %s: released %d, quarantined %d", r.dataset, r.rows_written, r.rows_quarantined
        )
    return reports


@task(name="vacuum-table", cache_policy=NO_CACHE)
def vacuum_table(uri: str, retention_hours: int, storage_options: dict[str, str]) -> int:
    """Remove files no commit references (including orphans of killed writers)."""
    if open_table(uri, storage_options) is None:
        return 0
    return len(vacuum(uri, retention_hours=retention_hours, dry_run=False, storage_options=storage_options))


@task(name="complete-erasure-certificates", cache_policy=NO_CACHE)
def complete_erasure_certificates() -> list[str]:
    """Mark removed the files of erasures whose retention has passed (the vacuum removed them)."""
    return complete_certificates(get_settings())


@task(name="purge-quarantine", cache_policy=NO_CACHE)
def purge_quarantine(uri: str, retention_days: int, storage_options: dict[str, str]) -> int:
    """Delete quarantine entries ingested more than ``retention_days`` ago; the vacuum then removes their files."""
    cutoff = datetime.now(timezone.utc).date() - timedelta(days=retention_days)
    deleted = purge_before(uri, cutoff, storage_options)
    get_run_logger().info("quarantine: deleted %d entries ingested before %s", deleted, cutoff)
    return deleted


@task(name="clear-stale-staging", cache_policy=NO_CACHE)
def clear_stale_staging(stale_hours: float) -> staging_runs.StagingCleanup:
    """Remove staging folders of runs that are gone (killed runs); never one of a run still running."""
    settings = get_settings()
    root = staging.location(settings.staging_location(), settings.lake_storage_options)
    cleanup = staging_runs.remove_stale_runs(root, stale_hours=stale_hours)
    get_run_logger().info("staging: %s", cleanup.summary())
    return cleanup


@flow(name="lake-maintenance", **INCIDENT_HOOKS)
def lake_maintenance(
    retention_hours: int = 168, staging_max_age_hours: float | None = None, optimize: bool = True
) -> MaintenanceResult:
    """Apply retention policies, compact every dataset table, vacuum them and the quarantine, complete erasure
    certificates, clear stale staging; release held rows whose parent landed and quarantine those whose
    ``hold_timeout`` has passed, with no run of their dataset needed.

    ``optimize`` compacts each table's dates that hold several files (Z-ordered
    on the contract's ``maintenance.zorder``) and checkpoints it, and compacts
    the access audit; a dataset whose optimize fails fails the run after the
    other steps ran.

    With ``SLUICE_QUARANTINE_RETENTION_DAYS`` set, quarantine entries ingested
    earlier than that are deleted first; their files go with the vacuum once
    ``retention_hours`` have passed.

    ``staging_max_age_hours`` (default ``SLUICE_STAGING_STALE_HOURS``) applies
    to folders of runs on other hosts; see :func:`sluice.lake.staging_runs.remove_stale_runs`.
    """
    settings = get_settings()
    log = get_run_logger()
    opts = dict(settings.lake_storage_options)
    names = available_contracts(settings.contracts_root())
    for name in (n for n in names if not is_dataset_name(n)):
        log.warning("skipping contract file %r: not a valid dataset name", name)
    retention = apply_retention_policies()
    datasets = [n for n in names if is_dataset_name(n)]
    optimized, failed = _optimize_all(datasets) if optimize else ({}, [])
    if optimize and (audit := compact_audit_task()) is not None:
        optimized["audit"] = audit
    removed = {name: vacuum_table(table_uri(settings.lake_root(), name), retention_hours, opts) for name in datasets}
    if open_table(settings.audit_root(), opts) is not None:
        removed["audit"] = vacuum_table(settings.audit_root(), retention_hours, opts)
    if settings.quarantine_retention_days is not None:
        removed["quarantine_purged"] = purge_quarantine(
            settings.quarantine_root(), settings.quarantine_retention_days, opts
        )
    removed["quarantine"] = vacuum_table(settings.quarantine_root(), retention_hours, opts)
    completed = complete_erasure_certificates()
    cleanup = clear_stale_staging(staging_max_age_hours or settings.staging_stale_hours)
    removed["staging_runs"] = len(cleanup.removed)
    released = release_held_rows()  # after the staging cleanup, whose count it would otherwise take
    removed["staging_bytes_freed"] = cleanup.bytes_freed
    log.info("maintenance removed %s; certificates completed: %s", removed, completed or "none")
    if failed:
        raise LakeError(
            f"optimizing {', '.join(failed)} failed; every other step ran",
            hint="the optimize-table task's log says why; `ops lake optimize DATASET` retries one by hand",
        )
    return MaintenanceResult(removed, retention, completed, optimized, released)
