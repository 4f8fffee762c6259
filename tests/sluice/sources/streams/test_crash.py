"""SIGKILL the consumer at random points while a producer sends: at the end the lake holds every message once."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from pika.adapters.blocking_connection import BlockingChannel

from sluice.lake.frames import LeaseSpec
from sluice.lake.log import history
from sluice.runs.metastore import engine_for
from sluice.sources.streams.base import MAX_DELIVERIES, BatchLimits, Offset
from sluice.sources.streams.consume import ConsumeSpec, consume
from sluice.sources.streams.positions import STREAM_META
from sluice.sources.streams.rabbitmq import RabbitConfig
from sluice.validate.contracts import Contract
from tests.sluice.sources.streams import consume_worker
from tests.sluice.sources.streams.brokers import (
    committed_digests,
    kafka_source,
    lake_ids,
    produce_kafka,
    produce_rabbit,
    produce_redis,
    queue_ready,
    rabbit_source,
    redis_source,
)
from tests.sluice.sources.streams.conftest import REDIS_URL, event, make_sink

pytestmark = pytest.mark.serial

KILLS = int(os.environ.get("SLUICE_STREAM_KILLS", "10"))
MESSAGES = 3_000


def _producer(send: Callable[[list[bytes]], None], stop: threading.Event, done: threading.Event) -> None:
    """Sends MESSAGES events in small bursts over the kills, then sets ``done``."""
    rng, sent = random.Random(7), 0
    while sent < MESSAGES and not stop.is_set():
        burst = min(rng.randint(20, 80), MESSAGES - sent)
        send([event(i) for i in range(sent, sent + burst)])
        sent += burst
        time.sleep(rng.uniform(0.05, 0.3))
    done.set()


def _forkserver() -> Any:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["tests.sluice.sources.streams.consume_worker"])
    return ctx


def _worker(ctx: Any, broker: str, address: str, name: str, home: Path) -> Any:
    """A worker process, returned once it is connected."""
    ready = ctx.Event()
    worker = ctx.Process(target=consume_worker.run, args=(broker, address, name, home, ready), daemon=True)
    worker.start()
    assert ready.wait(30), "the worker did not connect"
    return worker


def _kill_repeatedly(broker: str, address: str, name: str, home: Path, send: Callable[[list[bytes]], None]) -> int:
    """Start and SIGKILL the worker KILLS times while the producer runs; the number of kills after a commit."""
    rng, stop, done = random.Random(1717), threading.Event(), threading.Event()
    producer = threading.Thread(target=_producer, args=(send, stop, done), daemon=True)
    producer.start()
    after_commit = 0
    try:
        ctx = _forkserver()
        for _ in range(KILLS):
            worker = _worker(ctx, broker, address, name, home)
            time.sleep(rng.uniform(0.2, 2.0))  # a Kafka group join takes 0-2 s of it; commits follow
            if not worker.is_alive():
                pytest.fail(f"the worker died on its own (exit code {worker.exitcode})")
            os.kill(worker.pid, signal.SIGKILL)
            worker.join()
            after_commit += (home / "lake" / "events" / "_delta_log").exists()
    finally:
        done.wait(timeout=60)
        stop.set()
        producer.join()
    return after_commit


def _drain(source_of: Callable[[], object], home: Path, contract: Contract) -> None:
    sink = make_sink(home, contract, lease=LeaseSpec(engine_for(f"sqlite:///{home / 'sluice.db'}"), wait_s=30))
    spec = ConsumeSpec(BatchLimits(max_records=500, max_wait_s=0.2), follow_s=0, idle_s=3.0)
    consume(source_of(sink), sink, spec)  # type: ignore[arg-type]


def _committed_ranges(home: Path) -> dict[str, list[tuple[Offset, Offset]]]:
    spans: dict[str, list[tuple[Offset, Offset]]] = {}
    for entry in history(str(home / "lake" / "events")):
        meta = entry.metadata.get(STREAM_META)
        if isinstance(meta, dict):
            for part, first in meta["from"].items():
                spans.setdefault(part, []).append((Offset.parse(first), Offset.parse(meta["to"][part])))
    return spans


def _assert_each_once(home: Path, kills_after_commit: int) -> None:
    """Every message in the lake once, and no two commits' position ranges overlap: positions alone, not the
    lake's key deduplication, kept each message to one commit."""
    for part, spans in _committed_ranges(home).items():
        spans.sort()
        overlaps = [(a, b) for a, b in itertools.pairwise(spans) if b[0] <= a[1]]
        assert not overlaps, f"{part}: commits overlap at {overlaps[:3]}"
    counts = Counter(lake_ids(home))
    assert [i for i, n in counts.items() if n > 1] == [], "a message landed twice"
    assert sorted(counts) == list(range(MESSAGES)), f"{MESSAGES - len(counts)} message(s) lost"
    assert kills_after_commit > 0, "no worker committed before its kill: the kills tested nothing"


@pytest.mark.timeout(300)
def test_kafka_consumer_killed_at_random_points_lands_every_message_once(
    kafka: tuple[str, str], events_contract: Contract, tmp_path: Path
) -> None:
    bootstrap, topic = kafka
    home = tmp_path / "home"
    home.mkdir()
    kills = _kill_repeatedly("kafka", bootstrap, topic, home, lambda vs: produce_kafka(bootstrap, topic, vs))
    _drain(lambda sink: kafka_source(bootstrap, topic, sink), home, events_contract)
    _assert_each_once(home, kills)


@pytest.mark.timeout(300)
def test_redis_consumer_killed_at_random_points_lands_every_message_once(
    redis_stream: tuple[redis.Redis, str], events_contract: Contract, tmp_path: Path
) -> None:
    client, stream = redis_stream
    home = tmp_path / "home"
    home.mkdir()
    kills = _kill_repeatedly("redis", REDIS_URL, stream, home, lambda vs: produce_redis(client, stream, vs))
    _drain(lambda _sink: redis_source(REDIS_URL, stream, "worker"), home, events_contract)
    _assert_each_once(home, kills)
    assert int(client.xpending(stream, "sluice")["pending"]) == 0


@pytest.mark.timeout(300)
def test_rabbitmq_consumer_killed_at_random_points_lands_every_message_once(
    rabbit_queue: tuple[BlockingChannel, RabbitConfig], events_contract: Contract, tmp_path: Path
) -> None:
    channel, config = rabbit_queue
    home = tmp_path / "home"
    home.mkdir()
    # A message held by every killed worker is delivered KILLS + 1 times at most: under the dead-letter limit.
    assert KILLS + 1 < MAX_DELIVERIES

    def send(values: list[bytes]) -> None:
        ids = [f"event-{json.loads(v)['id']}" for v in values]
        produce_rabbit(config.url, config.queue, values, ids)

    kills = _kill_repeatedly("rabbitmq", config.url, config.queue, home, send)
    _drain(lambda _sink: rabbit_source(config.url, config.queue), home, events_contract)
    counts = Counter(lake_ids(home))
    assert [i for i, n in counts.items() if n > 1] == [], "a message landed twice"
    assert sorted(counts) == list(range(MESSAGES)), f"{MESSAGES - len(counts)} message(s) lost"
    digests = committed_digests(home)
    assert len(digests) == len(set(digests)) == MESSAGES, "idents alone did not keep each message to one commit"
    assert kills > 0, "no worker committed before its kill: the kills tested nothing"
    assert queue_ready(channel, config.queue) == 0
    assert int(channel.queue_declare(config.dead_letter_queue, passive=True).method.message_count) == 0
