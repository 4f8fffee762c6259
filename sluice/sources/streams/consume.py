"""The consume loop: micro-batches from a stream source into the lake, acknowledged only after the commit.

The fetcher thread fills a bounded buffer (:mod:`sluice.sources.streams.buffer`);
this loop takes one batch at a time, commits it with its positions
(:class:`sluice.sources.streams.sink.StreamSink`), and only then acknowledges
it to the broker. A crash before the commit loses nothing (the broker
redelivers: at-least-once); a crash between the commit and the
acknowledgement redelivers messages the lake holds, and the sink drops them
by position: exactly once into the lake.

While a batch commits, the next one the buffer holds is decoded and
validated in a second thread (:meth:`StreamSink.prepare`): one batch ahead
at most, so the messages out of the buffer are never more than two batches.

It runs until the source is idle for ``idle_s`` (``follow_s=0``), for
``follow_s`` seconds, until cancelled (``follow_s=None``), until its
``stop`` event is set (a supervisor removing the consumer), or until the sink
holds a batch back (its source's totals disagree under a ``strict``
completeness policy: :mod:`sluice.sources.streams.totals`). On the way out it
stops the fetcher, commits what the buffer still holds, and closes the source.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from opentelemetry.trace import Span, SpanKind

from sluice.sources.streams.base import BatchLimits, StreamBatch, StreamSource
from sluice.sources.streams.buffer import BoundedBuffer, BufferLimits, Fetcher
from sluice.sources.streams.sink import BatchOutcome, Prepared, StreamSink
from sluice.telemetry import producer_links, tracer


@dataclass(frozen=True)
class ConsumeSpec:
    """How long to run and how large batches and the buffer are."""

    limits: BatchLimits = field(default_factory=BatchLimits)
    buffer: BufferLimits = field(default_factory=BufferLimits)
    follow_s: float | None = 0.0  # 0: until idle for idle_s; None: until cancelled
    idle_s: float = 5.0


@dataclass
class ConsumeOutcome:
    """What a consume run did: each batch's outcome, how often the buffer paused the source, and its duration."""

    batches: list[BatchOutcome] = field(default_factory=list)
    pauses: int = 0
    seconds: float = 0.0
    held_back: list[BatchOutcome] = field(default_factory=list)  # not committed: totals disagree under strict


def _done(spec: ConsumeSpec, started: float, last_batch: float, stop: threading.Event | None) -> bool:
    now = time.monotonic()
    if stop is not None and stop.is_set():
        return True
    if spec.follow_s is None:
        return False
    if spec.follow_s == 0:
        return now - last_batch >= spec.idle_s
    return now - started >= spec.follow_s


def _describe(span: Span, broker: str, topic: str, batch: StreamBatch) -> None:
    """The batch span's attributes, its links to the producers' traces, and the consume span of its poll."""
    span.set_attributes(
        {
            "messaging.system": broker,
            "messaging.destination.name": topic,
            "messaging.batch.message_count": len(batch),
            "sluice.stream.partitions": sorted(batch.partitions()),
        }
    )
    for link in producer_links(batch.headers()):
        span.add_link(link.context)
    started, ended = batch.fetched_ns
    if started:
        consumed = tracer().start_span("stream.consume", start_time=started)
        consumed.set_attribute("messaging.batch.message_count", len(batch))
        consumed.end(end_time=ended)


Ahead = tuple[StreamBatch, "Future[Prepared]"]


def _prepared(ahead: Ahead) -> Prepared | None:
    """The batch's decoding done ahead; ``None`` when it failed (the commit decodes again, and raises)."""
    future = ahead[1]
    return future.result() if future.exception() is None else None


def _commit(
    source: StreamSource,
    sink: StreamSink,
    ahead: Ahead,
    out: ConsumeOutcome,
    on_batch: Callable[[BatchOutcome], None] | None,
) -> bool:
    """Commit the batch and acknowledge it; ``False`` when it was held back (neither: the loop stops)."""
    broker, _, topic = source.name.partition(":")
    batch = ahead[0]
    with tracer().start_as_current_span("stream.batch", kind=SpanKind.CONSUMER) as span:
        if span.is_recording():
            _describe(span, broker, topic, batch)
        outcome = sink.write(source.name, batch, _prepared(ahead), account=source)
        if outcome.held_back:
            span.set_attribute("sluice.stream.held_back", True)
            out.held_back.append(outcome)
            return False
        with tracer().start_as_current_span("stream.acknowledge"):
            source.acknowledge(batch)
        span.set_attribute("sluice.stream.quarantined", outcome.quarantined)
        span.set_attribute("sluice.stream.duplicate", outcome.duplicate)
        if outcome.version is not None:
            span.set_attribute("sluice.lake.version", outcome.version)
    out.batches.append(outcome)
    if on_batch is not None:
        on_batch(outcome)
    return True


def consume(
    source: StreamSource,
    sink: StreamSink,
    spec: ConsumeSpec | None = None,
    *,
    on_batch: Callable[[BatchOutcome], None] | None = None,
    on_pause: Callable[[list[str], bool], None] | None = None,
    stop: threading.Event | None = None,
) -> ConsumeOutcome:
    """Consume ``source`` into ``sink`` (see the module doc); the source is closed on return.

    ``on_pause`` is told the partitions the source pauses (``True``) and resumes (``False``) for backpressure,
    from the fetcher's thread; on return every partition still paused is told resumed.

    Raises:
        Whatever the fetcher or the commit raised (the source's error first); nothing unacknowledged is lost.
    """
    spec = spec or ConsumeSpec()
    out, started = ConsumeOutcome(), time.monotonic()
    buffer = BoundedBuffer(spec.buffer)
    fetcher = Fetcher(source, buffer, spec.limits, on_pause)
    fetcher.start()
    last_batch = started
    decoder = ThreadPoolExecutor(1, thread_name_prefix="stream-decode")

    def ahead(timeout_s: float) -> Ahead | None:
        batch = buffer.take(timeout_s=timeout_s)
        return None if batch is None else (batch, decoder.submit(sink.prepare, source.name, batch))

    try:
        pending: Ahead | None = None
        while not _done(spec, started, last_batch, stop):
            if fetcher.error is not None:
                raise fetcher.error
            current, pending = pending or ahead(0.1), None
            if current is None:
                continue
            pending = ahead(0)  # the next batch decodes while this one commits
            if not _commit(source, sink, current, out, on_batch):
                break  # nothing after a batch held back may land: the next run reads from the lake's positions
            last_batch = time.monotonic()
        fetcher.stop()
        if fetcher.error is not None:
            raise fetcher.error
        while not out.held_back and (current := pending or ahead(0)) is not None:
            pending = ahead(0)
            _commit(source, sink, current, out, on_batch)
    finally:
        decoder.shutdown(wait=True, cancel_futures=True)
        fetcher.stop()
        if fetcher.paused:
            fetcher.tell(source.paused_partitions(), False)
        source.close()
    out.pauses = buffer.pauses
    out.seconds = time.monotonic() - started
    return out
