"""The process's tracer provider (an SDK one, installed once) exporting finished spans to memory, for tests."""

from __future__ import annotations

from collections.abc import Iterator

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

EXPORTER = InMemorySpanExporter()


def memory_spans() -> Iterator[InMemorySpanExporter]:
    """Body of a fixture: :data:`EXPORTER`, cleared before and after the test."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    if not getattr(provider, "_sluice_memory_spans", False):
        provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
        provider._sluice_memory_spans = True  # type: ignore[attr-defined]
    EXPORTER.clear()
    yield EXPORTER
    EXPORTER.clear()


def named(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def children(spans: tuple[ReadableSpan, ...], parent: ReadableSpan) -> list[ReadableSpan]:
    ctx = parent.get_span_context()
    assert ctx is not None
    return [s for s in spans if s.parent is not None and s.parent.span_id == ctx.span_id]
