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
from sluice.aggregates.build import BuildResult, aggregates_name, build_leased
from sluice.lake.lease import holder_name
from sluice.settings import get_settings


@flow(name="build-aggregates", log_prints=False, **INCIDENT_HOOKS)
def build_aggregates(source: str = "orders") -> BuildResult:
    """Bring ``<source>_daily`` (orders, customers, quantity and amount per day and currency) up to ``source``."""
    target = aggregates_name(source)
    run_id = str(flow_run.get_id() or f"local-{int(time.time())}")
    result = build_leased(source, get_settings(), holder_name(run_id))
    log = get_run_logger()
    if result.changed:
        how = "every day" if result.full else f"{result.days} changed day(s)"
        at = (source, result.source_version, target, result.version)
        log.info("%s: %s of %s v%d recomputed, %s v%d", target, how, *at)
    else:
        log.info("%s is up to date with %s v%d", target, source, result.source_version)
    return result
