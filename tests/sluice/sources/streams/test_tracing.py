"""Stream batches as OpenTelemetry spans: consume, validate, commit and acknowledge under a batch span per batch,
linked to the producers' traces; exported over OTLP/HTTP only when the endpoint is set."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from sluice.sources.streams.base import BatchLimits
from sluice.sources.streams.consume import ConsumeSpec, consume
from sluice.validate.contracts import Contract
from tests.sluice.sources.streams.brokers import lake_ids, redis_source
from tests.sluice.sources.streams.conftest import REDIS_URL, ROOT, event, make_sink
from tests.spans import memory_spans
from tests.standins.otlp_receiver import OtlpReceiver

SPEC = ConsumeSpec(BatchLimits(max_records=25, max_wait_s=0.1), follow_s=0, idle_s=0.8)
CHILDREN = {"stream.consume", "stream.validate", "stream.commit", "stream.acknowledge"}


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """The process's tracer provider (an SDK one, installed once) exporting to memory."""
    yield from memory_spans()


def _traceparents(count: int) -> tuple[list[str], set[int]]:
    """``count`` producers' W3C trace contexts (each from a span of its own trace) and their trace ids."""
    tracer = trace.get_tracer("test-producer")
    found, ids = [], set()
    for i in range(count):
        with tracer.start_as_current_span(f"produce-{i}", context=trace.set_span_in_context(trace.INVALID_SPAN)):
            carrier: dict[str, str] = {}
            TraceContextTextMapPropagator().inject(carrier)
            found.append(carrier["traceparent"])
            ids.add(trace.get_current_span().get_span_context().trace_id)
    return found, ids


def _by_name(finished: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [s for s in finished if s.name == name]


def test_each_batch_is_a_span_with_its_stages_nested_and_links_to_its_producers(
    spans: InMemorySpanExporter, redis_stream: tuple[redis.Redis, str], events_contract: Contract, tmp_path: Path
) -> None:
    client, stream = redis_stream
    parents, producer_ids = _traceparents(3)
    for i in range(40):
        fields: dict[str, bytes | str] = {"value": b"not json" if i == 7 else event(i), "key": str(i)}
        if i % 10 == 0:
            fields["traceparent"] = parents[(i // 10) % 3]
        client.xadd(stream, fields)  # type: ignore[arg-type]
    spans.clear()  # the producers' own spans
    out = consume(redis_source(REDIS_URL, stream), make_sink(tmp_path, events_contract), SPEC)
    assert len(lake_ids(tmp_path)) == 39
    finished = spans.get_finished_spans()
    batches = _by_name(finished, "stream.batch")
    assert len(batches) == len(out.batches) >= 2
    for batch in batches:
        ctx = batch.get_span_context()
        assert ctx is not None
        kids = [s for s in finished if s.parent is not None and s.parent.span_id == ctx.span_id]
        assert {k.name for k in kids} == CHILDREN
        assert all(k.get_span_context().trace_id == ctx.trace_id for k in kids)  # type: ignore[union-attr]
        assert batch.parent is None and ctx.trace_id not in producer_ids  # linked to the producers, not parented
        attrs = batch.attributes or {}
        assert attrs["messaging.system"] == "redis" and attrs["messaging.destination.name"] == stream
        assert attrs["sluice.stream.partitions"] == (stream,)
    assert sum(int((b.attributes or {})["messaging.batch.message_count"]) for b in batches) == 40
    assert sum(int((b.attributes or {})["sluice.stream.quarantined"]) for b in batches) == 1
    linked = {link.context.trace_id for b in batches for link in b.links}
    assert linked == producer_ids


def test_messages_without_trace_context_give_unlinked_batch_spans(
    spans: InMemorySpanExporter, redis_stream: tuple[redis.Redis, str], events_contract: Contract, tmp_path: Path
) -> None:
    client, stream = redis_stream
    for i in range(5):
        client.xadd(stream, {"value": event(i), "key": str(i), "traceparent": "00-not-a-context-01"})
    consume(redis_source(REDIS_URL, stream), make_sink(tmp_path, events_contract), SPEC)
    (batch,) = _by_name(spans.get_finished_spans(), "stream.batch")
    assert list(batch.links) == []


CHILD = """
import sys
from pathlib import Path
from opentelemetry import trace
from sluice.sources.streams.consume import consume
from sluice.telemetry import tracer
from tests.sluice.sources.streams.brokers import redis_source
from tests.sluice.sources.streams.conftest import REDIS_URL, make_sink
from tests.sluice.sources.streams.test_tracing import SPEC
from sluice.validate.contracts import parse_contract
from tests.sluice.sources.streams.conftest import EVENTS

consume(redis_source(REDIS_URL, sys.argv[1]), make_sink(Path(sys.argv[2]), parse_contract(EVENTS)), SPEC)
print(type(trace.get_tracer_provider()).__name__, tracer().start_span("probe").is_recording())
"""


def _child(stream: str, home: Path, endpoint: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}"
    if endpoint:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    done = subprocess.run(
        [sys.executable, "-c", CHILD, stream, str(home)],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def test_spans_reach_an_otlp_http_receiver_when_the_endpoint_is_set(
    redis_stream: tuple[redis.Redis, str], tmp_path: Path
) -> None:
    client, stream = redis_stream
    for i in range(30):
        client.xadd(stream, {"value": event(i), "key": str(i)})
    receiver = OtlpReceiver().start()
    try:
        assert _child(stream, tmp_path, receiver.endpoint) == "TracerProvider True"
    finally:
        receiver.stop()
    received = receiver.spans()
    names = {s.name for s in received}
    assert {"stream.batch", *CHILDREN} <= names
    assert {s.service for s in received} == {"sluice"}
    assert all(t == "application/x-protobuf" for t in receiver.content_types)
    batch_ids = {s.span_id for s in received if s.name == "stream.batch"}
    assert {s.parent_span_id for s in received if s.name == "stream.commit"} <= batch_ids
    assert sum(int(s.attributes["messaging.batch.message_count"]) for s in received if s.name == "stream.batch") == 30


def test_without_an_endpoint_no_provider_is_installed_and_spans_do_not_record(
    redis_stream: tuple[redis.Redis, str], tmp_path: Path
) -> None:
    client, stream = redis_stream
    client.xadd(stream, {"value": event(1), "key": "1"})
    assert _child(stream, tmp_path, None) == "ProxyTracerProvider False"
