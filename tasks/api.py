"""The task of the ``ingest-api`` flow: an API's endpoints synced into their datasets' lake tables.

A thin task over :class:`sluice.sources.api.sync.EndpointSync`: it builds one
client for the API (its credentials, budget and quota shared by every
endpoint) and one sink per endpoint (this environment's lake, under the
dataset's lease), and syncs the endpoints in the description's order, parents
before their children. What the run asked of the API (requests, throttling,
waits, token renewals, rotations, quota use) is logged and written to the
metrics store (:mod:`ops.metrics.apis`), whether the run completes or fails.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone

from prefect import get_run_logger, task

from ops.metrics.apis import ApiUse, api_samples
from ops.metrics.errors import MetricsError, ReadOnlyStoreError
from ops.metrics.store import open_store
from sluice.errors import SluiceError
from sluice.lake.frames import LeaseSpec
from sluice.settings import MetricsBackend, get_settings
from sluice.sources.api.auth import Credentials
from sluice.sources.api.fetch import ApiClient
from sluice.sources.api.sink import ApiSink
from sluice.sources.api.spec import ApiSpec
from sluice.sources.api.sync import EndpointSync, SyncOutcome, parents_of
from sluice.validate.contracts import find_contract

log = logging.getLogger(__name__)


@dataclass
class ApiRun:
    """The endpoints a run synced, what it asked of the API, and the error that stopped it (if one did)."""

    outcomes: list[SyncOutcome] = field(default_factory=list)
    use: ApiUse | None = None
    failure: SluiceError | None = None


def api_sink(dataset: str, run_id: str) -> ApiSink:
    from sluice.runs.metastore import engine_for

    settings = get_settings()
    return ApiSink(
        find_contract(dataset, settings.contracts_root()),
        settings.lake_root(),
        settings.staging_root(),
        settings.quarantine_root(),
        lease=LeaseSpec(
            engine_for(settings.metadata_db_url()), settings.lease_ttl_seconds, settings.lease_wait_seconds
        ),
        run_id=run_id,
        storage_options=dict(settings.lake_storage_options),
    )


def quota_used(client: ApiClient) -> float | None:
    """The larger share used of the quota the API states and of the shared daily quota (``None``: neither)."""
    found = [client.server.quota.used_fraction]
    if client.quota is not None:
        found.append(client.quota.used_fraction())
    known = [f for f in found if f is not None]
    return max(known) if known else None


def api_use(spec: ApiSpec, client: ApiClient) -> ApiUse:
    events = client.credentials.events
    return ApiUse(
        spec.name,
        client.requests,
        client.retries,
        client.server.throttled,
        client.server.waited_s + client.budget.waited_s,
        events.refreshed + events.rejected,
        events.rotated,
        quota_used(client),
    )


def record_use(use: ApiUse) -> None:
    """``use`` as metrics samples in the embedded store (a Prometheus store scrapes, and is skipped)."""
    settings = get_settings()
    if settings.metrics.metrics_backend is MetricsBackend.PROMETHEUS:
        return
    try:
        open_store(settings.metrics, home=settings.home).write(
            api_samples(use, datetime.now(timezone.utc), environment=settings.env)
        )
    except (ReadOnlyStoreError, MetricsError, OSError) as exc:
        log.warning("API metrics not recorded: %s", exc)


@task(name="sync-api")
def sync_api(spec: ApiSpec, endpoints: list[str], run_id: str) -> ApiRun:
    """Sync ``endpoints`` of ``spec`` in order; an error stops the run after the pages committed before it."""
    logger, run = get_run_logger(), ApiRun()
    client = ApiClient(spec, Credentials(spec.auth, timeout_s=spec.limits.timeout_s))
    try:
        for i, name in enumerate(endpoints):
            endpoint = spec.endpoint(name)
            sink = api_sink(endpoint.dataset, run_id if i == 0 else f"{run_id}.{i}")
            parents = parents_of(spec, endpoint, sink.lake_root)
            sync = EndpointSync(spec, endpoint, client, sink, parents)
            run.outcomes.append(sync.result)  # the pages committed so far, also when the sync raises
            outcome = sync.run()
            run.outcomes[-1] = outcome
            logger.info(
                "%s: %d page(s), %d record(s): wrote %d, updated %d, quarantined %d (%s)",
                outcome.source,
                outcome.pages,
                outcome.records,
                outcome.written,
                outcome.updated,
                outcome.quarantined,
                outcome.position,
            )
    except SluiceError as exc:
        run.failure = exc
    finally:
        client.close()
        run.use = api_use(spec, client)
        u = run.use
        logger.info(
            "API %s: %d request(s), %d retried, %d throttled, %.1f s waited, %d token renewal(s), %d rotation(s)%s",
            u.api,
            u.requests,
            u.retries,
            u.throttled,
            u.waited_s,
            u.renewals,
            u.rotations,
            "" if u.quota_used is None else f", {u.quota_used:.0%} of its quota used",
        )
        record_use(u)
    return run
