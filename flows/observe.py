"""Metrics and a span beside every flow run: a psutil sampler of the host, the flow's process and its Dask workers.

The samples go to the metrics store (``sluice_host_*`` and ``sluice_process_*``
labelled ``flow``, ``dataset`` and ``environment``) every
``SLUICE_METRICS_SAMPLE_SECONDS`` (2 s). With the Prometheus backend the
sampler stays off: Prometheus scrapes the exporter instead
(``ops metrics`` documents it). ``SLUICE_METRICS_SAMPLER=false`` turns it off.

The flow body runs in a span named after the flow (a child of Prefect's
flow-run span), with the run id, flow and dataset as attributes, which
Prefect's flow-run span gets too. Tracing is configured when this module is
imported (:func:`sluice.telemetry.configure`): before Prefect opens its first
flow-run span, so that span is exported too. So is the log format
(:func:`sluice.telemetry.logs.configure_logging`, ``SLUICE_LOG_FORMAT``).
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from opentelemetry import trace
from prefect.runtime import flow_run

from sluice import telemetry
from sluice.errors import SluiceError
from sluice.settings import MetricsBackend, get_settings
from sluice.telemetry import stages
from sluice.telemetry.logs import configure_logging

if TYPE_CHECKING:
    from ops.metrics.sampler import Sampler

FLOW_PROCESS = "flow-process"  # the ``worker`` label of the flow process's own samples
P = ParamSpec("P")
R = TypeVar("R")
logger = logging.getLogger(__name__)
telemetry.configure()
configure_logging()


@contextmanager
def sampling(labels: dict[str, str]) -> Iterator[Sampler | None]:
    """Sample the host, this process and its Dask worker processes into the metrics store while the block runs."""
    # Imported here, not with the flow's module: Dask workers unpickle that
    # module and would load the metrics store (SQLAlchemy) for nothing.
    from ops.metrics.sampler import Sampler
    from ops.metrics.store import open_store

    try:
        settings = get_settings().metrics
        store = open_store(settings, home=get_settings().home)
    except SluiceError as exc:
        logger.warning("no metrics sampling for this run: %s", exc)
        yield None
        return
    if not settings.metrics_sampler or settings.metrics_backend is MetricsBackend.PROMETHEUS:
        yield None
        return
    # The flow process itself too: it commits, and thread workers (the
    # default LocalCluster) run inside it.
    with Sampler(
        store,
        interval=settings.metrics_sample_seconds,
        labels=labels,
        watch_children=True,
        processes={FLOW_PROCESS: os.getpid()},
    ) as sampler:
        yield sampler


def observed(flow_name: str, *label_parameters: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Run a flow function inside :func:`sampling`, labelled with the flow and the named parameters."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            bound = signature.bind_partial(*args, **kwargs).arguments
            labels = {"flow": flow_name, "environment": get_settings().env}
            labels |= {name: str(bound[name]) for name in label_parameters if bound.get(name) is not None}
            attributes = {stages.FLOW: flow_name, stages.RUN_ID: str(flow_run.get_id() or "")}
            if "dataset" in labels:
                attributes[stages.DATASET] = labels["dataset"]
            trace.get_current_span().set_attributes(attributes)  # Prefect's flow-run span
            with telemetry.tracer().start_as_current_span(flow_name, attributes=attributes), sampling(labels):
                return fn(*args, **kwargs)

        return run

    return decorate
