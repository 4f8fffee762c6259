"""Flow ``ingest-grpc``: a gRPC server-streaming method into its dataset's lake table, each message once.

The stream is described in ``<stream>.yaml`` under ``SLUICE_APIS_DIR``'s
``grpc/`` folder (:mod:`sluice.sources.grpc.spec`). Each run reads from the
resume token of the newest commit to the end of the stream
(:mod:`sluice.sources.grpc.sync`). A run that stops (the service down, a
kill) leaves every batch it committed, and the next run resumes after them.

The run is recorded like a file ingestion (``ops runs``): one entry per batch.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows.hooks import INCIDENT_HOOKS
from flows.ingest_api import endpoint_report
from sluice.runs.records import RunReport, ensure_conserved
from sluice.settings import get_settings
from sluice.sources.grpc.spec import find_stream, streams_root
from tasks.grpc_stream import sync_stream
from tasks.records import record_failure, record_run


@flow(name="ingest-grpc", log_prints=False, **INCIDENT_HOOKS)
def ingest_grpc(stream: str) -> RunReport:
    """Sync the gRPC stream described in ``grpc/<stream>.yaml``."""
    settings = get_settings()
    run_id = str(flow_run.get_id() or f"local-{int(time.time())}")
    started = datetime.now(timezone.utc)
    spec = find_stream(stream, streams_root(settings.apis_root()))
    run = sync_stream(spec, run_id)
    report = endpoint_report(run.outcome, spec.dataset, run_id, settings.env, started)
    report.flow, report.source = "ingest-grpc", f"grpc:{spec.name}"
    for entry in report.files:
        entry.uri = entry.uri.replace("api:", "grpc:", 1)
    report.source_kind = "grpc"
    report.finished_at = datetime.now(timezone.utc)
    ensure_conserved(report)
    if run.failure is not None:
        record_failure(report, run.failure, settings.metadata_db_url())
        raise run.failure
    report.status = "completed"
    record_run(report, settings.metadata_db_url())
    get_run_logger().info("gRPC %s: %d message(s) synced", stream, run.outcome.records)
    return report
