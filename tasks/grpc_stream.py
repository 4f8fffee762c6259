"""The task of the ``ingest-grpc`` flow: a gRPC server-streaming method synced into its dataset's lake table.

A thin task over :class:`sluice.sources.grpc.sync.StreamSync`: it compiles the
method from the description's ``.proto``, opens the stream after the token of
the newest commit, and commits batches under the dataset's lease in this
environment's lake. What the run asked of the service (calls, retries, stalls)
is logged, whether the run completes or fails.
"""

from __future__ import annotations

from dataclasses import dataclass

from prefect import get_run_logger, task

from sluice.errors import SluiceError
from sluice.lake.frames import LeaseSpec
from sluice.settings import get_settings
from sluice.sources.api.sync import SyncOutcome
from sluice.sources.grpc.sink import GrpcSink
from sluice.sources.grpc.spec import GrpcSpec
from sluice.sources.grpc.stream import GrpcStream
from sluice.sources.grpc.stubs import load_method
from sluice.sources.grpc.sync import StreamSync
from sluice.validate.contracts import find_contract


@dataclass
class StreamRun:
    """What a run committed, and the error that stopped it (if one did)."""

    outcome: SyncOutcome
    failure: SluiceError | None = None


def grpc_sink(spec: GrpcSpec, run_id: str) -> GrpcSink:
    from sluice.runs.metastore import engine_for

    settings = get_settings()
    return GrpcSink(
        find_contract(spec.dataset, settings.contracts_root()),
        spec.name,
        settings.lake_root(),
        settings.staging_root(),
        settings.quarantine_root(),
        lease=LeaseSpec(
            engine_for(settings.metadata_db_url()), settings.lease_ttl_seconds, settings.lease_wait_seconds
        ),
        run_id=run_id,
        storage_options=dict(settings.lake_storage_options),
    )


@task(name="sync-grpc-stream")
def sync_stream(spec: GrpcSpec, run_id: str) -> StreamRun:
    """Sync the stream ``spec`` describes; an error stops the run after the batches committed before it."""
    logger = get_run_logger()
    stream = GrpcStream(spec, load_method(spec.proto_path, spec.service, spec.method))
    sync = StreamSync(spec, stream, grpc_sink(spec, run_id))
    run = StreamRun(sync.result)
    try:
        run.outcome = sync.run()
    except SluiceError as exc:
        run.failure = exc
    finally:
        stream.close()
        done = run.outcome
        logger.info(
            "gRPC %s: %d message(s) in %d batch(es): wrote %d, quarantined %d; %d call(s), %d retried, "
            "%d stalled; token %s",
            spec.name,
            done.records,
            done.pages,
            done.written,
            done.quarantined,
            stream.calls,
            stream.retries,
            stream.stalls,
            done.position or "(none)",
        )
    return run
