"""Tasks that record a run: the metadata store and the Prefect artifacts."""

from __future__ import annotations

import prefect.runtime
from prefect import task
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
