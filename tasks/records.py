"""Tasks that record a run: the metadata store and the Prefect artifacts."""

from __future__ import annotations

from datetime import datetime, timezone

import prefect.runtime
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from sluice.runs.records import RunReport
from sluice.runs.report import markdown_summary, table_rows
from tasks.artifacts import RunArtifacts


@task(name="record-run", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def record_run(report: RunReport, metadata_url: str) -> None:
    """Write the run and its files to the metadata store, then send its OpenLineage COMPLETE or FAIL event."""
    # SQLAlchemy and the OpenLineage client are imported here, in the flow's process: Dask workers load
    # this module with the flow's and never write the store.
    from sluice.lineage.run import emit_end
    from sluice.runs.metastore import engine_for, save_run

    with engine_for(metadata_url).begin() as conn:
        save_run(conn, report)
    emit_end(prefect.runtime.flow_run.flow_name or "sluice", report)


def record_failure(report: RunReport, exc: BaseException, metadata_url: str) -> None:
    """Mark ``report`` failed with ``exc`` and record it; a store that cannot be written is logged, not raised.

    The run's own error is the one its flow raises; NUL characters of the message are escaped (stores refuse them).
    """
    report.status, report.error = "failed", str(exc).replace("\x00", "\\x00")
    report.finished_at = datetime.now(timezone.utc)
    try:
        record_run(report, metadata_url)
    except Exception as store_exc:  # noqa: BLE001 - the run's own error is the one raised
        get_run_logger().error("the failed run %s could not be recorded: %s", report.run_id, store_exc)


@task(name="publish-run-artifacts", cache_policy=NO_CACHE)
def publish_artifacts(report: RunReport, artifacts: RunArtifacts) -> None:
    """Publish the run summary on the flow run.

    Keys: ``<scope>-ingest-<dataset>-summary`` (markdown) and ``<scope>-ingest-<dataset>-files`` (table).
    """
    artifacts.markdown(
        markdown_summary(report),
        key=artifacts.key("ingest", report.dataset, "summary"),
        description=f"Ingestion of {report.dataset} in {report.env}",
    )
    artifacts.table(
        table_rows(report),
        key=artifacts.key("ingest", report.dataset, "files"),
        description=f"Files of {report.dataset} in {report.env}",
    )
