"""A mock Kafka cluster for the session, a Redis stream per test, and a contract whose fate of every value is known."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pika
import pytest
import redis

from sluice.sources.streams.rabbitmq import RabbitConfig, declare_queue
from sluice.sources.streams.sink import StreamSink
from sluice.validate.contracts import Contract, parse_contract

ROOT = Path(__file__).resolve().parents[4]
REDIS_URL = os.environ.get("SLUICE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RABBIT_URL = os.environ.get("SLUICE_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
KAFKA_TOPICS = [f"t{i}" for i in range(16)]  # one per test that needs Kafka: a topic is never shared

EVENTS = """
name: events
owner: tests@sluice.example
freshness_sla: 1d
primary_key: [id]
partition: {column: at}
columns:
  - {name: id, type: int64}
  - {name: at, type: timestamp}
  - {name: kind, type: string, allowed_values: [click, view, buy]}
  - {name: amount, type: float64, nullable: true}
"""


def event(i: int, kind: str = "click") -> bytes:
    return f'{{"id": {i}, "at": "2024-03-05T10:00:00Z", "kind": "{kind}", "amount": {i / 10}}}'.encode()


@pytest.fixture(scope="session")
def events_contract() -> Contract:
    return parse_contract(EVENTS)


def make_sink(home: Path, contract: Contract, **kw: object) -> StreamSink:
    return StreamSink(contract, str(home / "lake"), home / "staging", str(home / "quarantine"), **kw)  # type: ignore[arg-type]


@dataclass
class KafkaCluster:
    bootstrap: str
    topics: list[str]

    def topic(self) -> str:
        return self.topics.pop(0)


@pytest.fixture(scope="session")
def kafka_cluster() -> Iterator[KafkaCluster]:
    """librdkafka's mock cluster in a helper process, alive for the session; topics of 3 partitions."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.sluice.sources.streams.mock_cluster", *[f"{t}:3" for t in KAFKA_TOPICS]],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    bootstrap = proc.stdout.readline().strip()
    assert bootstrap.startswith("127.0.0.1:"), f"the mock cluster did not start: {bootstrap!r}"
    try:
        yield KafkaCluster(bootstrap, list(KAFKA_TOPICS))
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)


@pytest.fixture
def kafka(kafka_cluster: KafkaCluster) -> tuple[str, str]:
    """The bootstrap servers and a topic of this test's own."""
    return kafka_cluster.bootstrap, kafka_cluster.topic()


@pytest.fixture
def redis_stream() -> Iterator[tuple[redis.Redis, str]]:
    """A client and a stream key of this test's own, deleted after it."""
    client = redis.Redis.from_url(REDIS_URL)
    key = f"sluice-test-{uuid.uuid4().hex[:12]}"
    try:
        yield client, key
    finally:
        client.delete(key)
        client.close()


@pytest.fixture
def rabbit_queue() -> Iterator[tuple[pika.adapters.blocking_connection.BlockingChannel, RabbitConfig]]:
    """A channel and a quorum queue of this test's own (with its dead-letter exchange and queue), deleted after it."""
    conn = pika.BlockingConnection(pika.URLParameters(RABBIT_URL))
    channel = conn.channel()
    config = RabbitConfig(RABBIT_URL, f"sluice-test-{uuid.uuid4().hex[:12]}")
    declare_queue(channel, config)
    try:
        yield channel, config
    finally:
        channel.queue_delete(config.queue)
        channel.queue_delete(config.dead_letter_queue)
        channel.exchange_delete(config.dead_letter_exchange)
        conn.close()
