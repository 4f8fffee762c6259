"""Flow ``ingest-api``: a REST API's endpoints into their datasets' lake tables, each page committed once.

The API is described in ``<api>.yaml`` under ``SLUICE_APIS_DIR``
(:mod:`sluice.sources.api.spec`). Each run syncs the endpoints named (all by
default) in the description's order: one pass each, from the position the
lake holds (:mod:`sluice.sources.api.sync`). A run that stops (a quota used
up, the API down, a kill) leaves every page it committed, and the next run
resumes after them.

Each endpoint is recorded like a file ingestion (``ops runs``): one entry per
page; ``rows_read`` = ``rows_written`` + ``rows_updated`` + ``rows_unchanged``
+ ``rows_quarantined`` + ``rows_duplicate``.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows.hooks import INCIDENT_HOOKS
from sluice.runs.records import FileOutcome, FileStatus, RunReport, ensure_conserved
from sluice.settings import get_settings
from sluice.sources.api.spec import find_api
from sluice.sources.api.sync import SyncOutcome
from tasks.api import sync_api
from tasks.records import record_failure, record_run


def endpoint_report(outcome: SyncOutcome, dataset: str, run_id: str, env: str, started: datetime) -> RunReport:
    """An endpoint's run record: one entry per committed page."""
    report = RunReport(run_id, dataset, f"api:{outcome.source}", env, started, flow="ingest-api")
    report.source_kind = "api"
    for i, page in enumerate(outcome.committed):
        applied = page.written + page.updated + page.deleted + page.unchanged
        report.files.append(
            FileOutcome(
                uri=f"api:{outcome.source}#{i}",
                order=i,
                status=FileStatus.COMMITTED,
                rows_read=page.read,
                rows_valid=page.valid,
                rows_quarantined=page.quarantined,
            )
        )
        report.rows_duplicate += page.valid - applied
    report.rows_read = sum(p.read for p in outcome.committed)
    report.rows_written = sum(p.written for p in outcome.committed)
    report.rows_updated = sum(p.updated for p in outcome.committed)
    report.rows_deleted = sum(p.deleted for p in outcome.committed)
    report.rows_unchanged = sum(p.unchanged for p in outcome.committed)
    report.rows_quarantined = sum(p.quarantined for p in outcome.committed)
    report.duplicates_in_lake = report.rows_duplicate
    versions = [p.version for p in outcome.committed if p.version is not None]
    report.lake_version = max(versions) if versions else None
    return report


@flow(name="ingest-api", log_prints=False, **INCIDENT_HOOKS)
def ingest_api(api: str, endpoints: list[str] | None = None) -> list[RunReport]:
    """Sync ``endpoints`` (default: every endpoint) of the API described in ``<api>.yaml``."""
    settings = get_settings()
    run_id = str(flow_run.get_id() or f"local-{int(time.time())}")
    started = datetime.now(timezone.utc)
    spec = find_api(api, settings.apis_root())
    names = endpoints or [e.name for e in spec.endpoints]
    for name in names:
        spec.endpoint(name)  # an unknown name is refused before any request
    run = sync_api(spec, names, run_id)
    reports = []
    for i, outcome in enumerate(run.outcomes):
        dataset = spec.endpoint(outcome.source.split(".", 1)[1]).dataset
        report = endpoint_report(outcome, dataset, run_id if i == 0 else f"{run_id}.{i}", settings.env, started)
        report.finished_at = datetime.now(timezone.utc)
        ensure_conserved(report)
        if run.failure is not None and i == len(run.outcomes) - 1:
            record_failure(report, run.failure, settings.metadata_db_url())
        else:
            report.status = "completed"
            record_run(report, settings.metadata_db_url())
        reports.append(report)
    if run.failure is not None:
        raise run.failure
    get_run_logger().info("API %s: %d endpoint(s) synced", api, len(reports))
    return reports
