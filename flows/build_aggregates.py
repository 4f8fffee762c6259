"""Flow ``build-aggregates``: a dataset's daily aggregates, brought up to its table's newest version.

The ``orders-daily`` deployment (``prefect.yaml``) runs it on every
``sluice.dataset.committed`` event of ``orders``: each ingest that lands
rows updates ``orders_daily``, recomputing only the days the new versions
changed (:mod:`sluice.aggregates.build`). Runs take turns through the
aggregates table's lease; a run that finds the aggregates up to date
commits nothing.
"""

from __future__ import annotations

import time

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows.hooks import INCIDENT_HOOKS
from sluice.aggregates.build import BuildResult, build
from sluice.lake.lease import hold_lease, holder_name
from sluice.lake.table import table_uri
from sluice.paths import ensure_dataset_name
from sluice.runs.metastore import engine_for
from sluice.settings import get_settings

SUFFIX = "_daily"


def aggregates_name(source: str) -> str:
    """The aggregates dataset of ``source`` (``orders`` gives ``orders_daily``)."""
    return ensure_dataset_name(f"{ensure_dataset_name(source)}{SUFFIX}")


@flow(name="build-aggregates", log_prints=False, **INCIDENT_HOOKS)  # type: ignore[arg-type]
def build_aggregates(source: str = "orders") -> BuildResult:
    """Bring ``<source>_daily`` (orders, customers, quantity and amount per day and currency) up to ``source``."""
    settings = get_settings()
    target = aggregates_name(source)
    run_id = str(flow_run.get_id() or f"local-{int(time.time())}")
    opts = dict(settings.lake_storage_options)
    lease = hold_lease(
        engine_for(settings.metadata_db_url()),
        target,
        holder_name(run_id),
        ttl_s=settings.lease_ttl_seconds,
        wait_s=settings.lease_wait_seconds,
    )
    with lease as held:
        result = build(
            source,
            table_uri(settings.lake_root(), source),
            table_uri(settings.lake_root(), target),
            check=held.ensure_held,
            storage_options=opts,
        )
    log = get_run_logger()
    if result.changed:
        how = "every day" if result.full else f"{result.days} changed day(s)"
        log.info(
            "%s: %s of %s v%d recomputed, %s v%d", target, how, source, result.source_version, target, result.version
        )
    else:
        log.info("%s is up to date with %s v%d", target, source, result.source_version)
    return result
