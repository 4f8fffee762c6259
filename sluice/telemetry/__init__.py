"""Tracing with OpenTelemetry: one tracer for Sluice, exported over OTLP/HTTP only when an endpoint is set.

:func:`tracer` is all the product code asks for. The first call configures
the process once: when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (the
OpenTelemetry variable; ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` and
``OTEL_EXPORTER_OTLP_HEADERS`` are read by the exporter as usual) and no
tracer provider is installed yet, it installs the SDK's provider with a
batching OTLP/HTTP exporter (``service.name`` from ``OTEL_SERVICE_NAME``,
else ``sluice``). Otherwise it installs nothing: spans come from the
OpenTelemetry API's no-op tracer (or from a provider the embedding process
set itself), and cost a few attribute look-ups.

:func:`producer_links` reads the W3C ``traceparent`` header of messages:
a batch has many producers, so a batch span is linked to their contexts
(span links) rather than parented to one of them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping

from opentelemetry import trace
from opentelemetry.trace import Link, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
TRACER_NAME = "sluice"
TRACEPARENT = "traceparent"
MAX_LINKS = 128  # the SDK's default span link limit: producers beyond it are not linked
_lock = threading.Lock()
_configured = False
_propagator = TraceContextTextMapPropagator()


def configure(environ: Mapping[str, str] | None = None) -> bool:
    """Install the OTLP/HTTP exporting provider if the endpoint is set (once a process); whether it did."""
    global _configured
    env = os.environ if environ is None else environ
    with _lock:
        if _configured:
            return False
        _configured = True
        if not env.get(ENDPOINT_ENV):
            return False
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = TracerProvider(resource=Resource.create({"service.name": env.get("OTEL_SERVICE_NAME", "sluice")}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
        return True


def tracer() -> Tracer:
    """Sluice's tracer (see the module doc)."""
    if not _configured:
        configure()
    return trace.get_tracer(TRACER_NAME)


def producer_links(headers: Iterable[tuple[tuple[str, bytes], ...]]) -> list[Link]:
    """One link per distinct valid ``traceparent`` among the messages' headers, at most :data:`MAX_LINKS`."""
    seen: set[tuple[int, int]] = set()
    links: list[Link] = []
    for message_headers in headers:
        for name, value in message_headers:
            if name.lower() != TRACEPARENT or len(links) >= MAX_LINKS:
                continue
            carrier = {TRACEPARENT: value.decode("ascii", "replace")}
            context = trace.get_current_span(_propagator.extract(carrier)).get_span_context()
            key = (context.trace_id, context.span_id)
            if context.is_valid and key not in seen:
                seen.add(key)
                links.append(Link(context))
    return links
