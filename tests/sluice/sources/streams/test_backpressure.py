"""A stream much faster than the lake: the buffer pauses the consumer and the process's memory stays flat."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import redis

from sluice.sources.streams.base import BatchLimits, Message, Offset, StreamBatch, StreamSource
from sluice.sources.streams.buffer import BufferLimits
from sluice.sources.streams.consume import ConsumeSpec, consume
from sluice.sources.streams.sink import BatchOutcome, Prepared, StreamSink
from sluice.validate.contracts import Contract
from tests.sluice.sources.streams.brokers import kafka_source, redis_source
from tests.sluice.sources.streams.conftest import REDIS_URL, ROOT, event, make_sink

MESSAGES, VALUE_BYTES = 8_000, 8_000  # about 64 MB waiting on the broker
MB = 1024 * 1024


class SlowLake(StreamSink):
    """A lake that takes 0.25 s per batch: far slower than the stream."""

    def write(
        self, source: str, batch: StreamBatch, prepared: Prepared | None = None, account: object = None
    ) -> BatchOutcome:
        time.sleep(0.25)
        return super().write(source, batch, prepared, account)


def _produce_elsewhere(broker: str, address: str, name: str) -> None:
    code = (
        "import sys; from tests.sluice.sources.streams import brokers; "
        f"brokers.produce_{broker}(sys.argv[1], sys.argv[2], brokers.padded_events({MESSAGES}, {VALUE_BYTES}))"
    )
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    subprocess.run([sys.executable, "-c", code, address, name], cwd=ROOT, env=env, check=True, timeout=120)


def _rss_peak(stop: threading.Event, peak: list[int]) -> None:
    process = psutil.Process()
    while not stop.is_set():
        peak[0] = max(peak[0], process.memory_info().rss)
        time.sleep(0.05)


def _bounded_while_paused(source_of: Callable[[StreamSink], StreamSource], home: Path, contract: Contract) -> None:
    base = make_sink(home, contract)
    sink = SlowLake(base.contract, base.lake_root, base.staging_root, base.quarantine_uri)
    base.write("test:warm-up", StreamBatch([Message("w", Offset(0), None, event(-1))]))  # imports, first commit
    spec = ConsumeSpec(
        BatchLimits(max_records=200, max_wait_s=0.2),
        BufferLimits(max_records=1_000, max_bytes=4 * MB, pause_after_s=0.1),  # full longer than that: paused
        follow_s=4.0,
    )
    source = source_of(sink)
    before = psutil.Process().memory_info().rss
    stop, peak = threading.Event(), [before]
    sampler = threading.Thread(target=_rss_peak, args=(stop, peak), daemon=True)
    sampler.start()
    try:
        out = consume(source, sink, spec)
    finally:
        stop.set()
        sampler.join()
    taken = sum(b.read for b in out.batches)
    grown = (peak[0] - before) / MB
    assert grown < 48, f"RSS grew {grown:.0f} MiB with {MESSAGES * VALUE_BYTES / MB:.0f} MiB waiting on the broker"
    assert out.pauses > 0, "the buffer never filled: the lake kept up, nothing was tested"
    assert taken < MESSAGES // 2, "the lake took most of the stream: it was not the slower side"


def test_a_full_buffer_pauses_kafka_and_memory_stays_bounded(
    kafka: tuple[str, str], events_contract: Contract, tmp_path: Path
) -> None:
    bootstrap, topic = kafka
    _produce_elsewhere("kafka", bootstrap, topic)  # the producer's buffers stay out of this process's memory
    _bounded_while_paused(lambda sink: kafka_source(bootstrap, topic, sink), tmp_path, events_contract)


def test_a_full_buffer_stops_redis_reads_and_memory_stays_bounded(
    redis_stream: tuple[redis.Redis, str], events_contract: Contract, tmp_path: Path
) -> None:
    _client, stream = redis_stream
    _produce_elsewhere("redis_url", REDIS_URL, stream)
    _bounded_while_paused(lambda _sink: redis_source(REDIS_URL, stream), tmp_path, events_contract)
