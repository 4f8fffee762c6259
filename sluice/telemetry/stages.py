"""Spans of the ingestion stages: read, validate, write and commit, each with the run id and the dataset.

A flow run is one trace: Prefect's flow-run span, the flow's own span
(:data:`FLOW` attributes, opened by ``flows.observe``), Prefect's task-run
spans, and under them one :data:`BATCH` span per staged file or key range
with a :data:`READ`, :data:`VALIDATE` and :data:`WRITE` span per chunk.
:data:`COMMIT` covers the commit of a run's batches to the lake. Without an
exporter (see :mod:`sluice.telemetry`) these are the API's no-op spans.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

from opentelemetry.trace import Span
from opentelemetry.util.types import AttributeValue

from sluice.telemetry import tracer

BATCH = "stage.batch"
READ = "stage.read"
VALIDATE = "stage.validate"
WRITE = "stage.write"
COMMIT = "stage.commit"
RUN_ID = "sluice.run_id"
DATASET = "sluice.dataset"
FLOW = "sluice.flow"
ROWS = "sluice.rows"
T = TypeVar("T")
current_stage: ContextVar[str] = ContextVar("sluice_stage", default="")  # for the JSON logs' ``stage``


@contextmanager
def stage(name: str, run_id: str, dataset: str, **extra: AttributeValue) -> Iterator[Span]:
    """A span for one stage of a run, current while the block runs."""
    attributes: dict[str, AttributeValue] = {RUN_ID: run_id, DATASET: dataset}
    attributes.update({f"sluice.{key}": value for key, value in extra.items()})
    token = current_stage.set(name)
    try:
        with tracer().start_as_current_span(name, attributes=attributes) as span:
            yield span
    finally:
        current_stage.reset(token)


def traced_reads(chunks: Iterable[T], run_id: str, dataset: str, rows: Callable[[T], int]) -> Iterator[T]:
    """``chunks`` with each ``next`` (the reading of one chunk) inside a :data:`READ` span of its ``rows``.

    The span of the last ``next``, the one that finds the source exhausted, is
    kept too: it times the reader's close.
    """
    source = iter(chunks)
    while True:
        with stage(READ, run_id, dataset) as span:
            try:
                chunk = next(source)
            except StopIteration:
                span.set_attribute("sluice.exhausted", True)
                return
            span.set_attribute(ROWS, rows(chunk))
        yield chunk
