"""Producing test messages, and building sources and sinks the same way in tests and worker processes."""

from __future__ import annotations

import time
from pathlib import Path

import pika
import redis
from confluent_kafka import Producer
from pika.adapters.blocking_connection import BlockingChannel

from sluice.sources.streams.kafka import KafkaConfig, KafkaSource
from sluice.sources.streams.rabbitmq import RabbitConfig, RabbitSource
from sluice.sources.streams.redis_streams import RedisConfig, RedisSource
from sluice.sources.streams.sink import StreamSink

FAST_GROUP = {"session.timeout.ms": 1000, "heartbeat.interval.ms": 100}  # a killed member's partitions move in ~2 s


def produce_kafka(bootstrap: str, topic: str, values: list[bytes], keys: list[bytes | None] | None = None) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i, value in enumerate(values):
        producer.produce(topic, value=value, key=keys[i] if keys else str(i).encode())
        if i % 1000 == 999:
            producer.poll(0)
    assert producer.flush(30) == 0, "the mock cluster did not take every message"


def produce_redis(client: redis.Redis, stream: str, values: list[bytes]) -> list[bytes]:
    pipe = client.pipeline(transaction=False)
    for i, value in enumerate(values):
        pipe.xadd(stream, {"value": value, "key": str(i)})
    return list(pipe.execute())


def kafka_source(bootstrap: str, topic: str, sink: StreamSink, group: str = "sluice") -> KafkaSource:
    config = KafkaConfig(bootstrap, topic, group, options=FAST_GROUP)
    return KafkaSource(config, lambda: sink.positions(f"kafka:{topic}"))


def redis_source(url: str, stream: str, consumer: str = "c1", claim_idle_ms: int = 30_000) -> RedisSource:
    return RedisSource(RedisConfig(url, stream, "sluice", consumer, claim_idle_ms))


def lake_ids(home: Path, dataset: str = "events") -> list[int]:
    from deltalake import DeltaTable

    table = home / "lake" / dataset
    if not (table / "_delta_log").exists():
        return []
    return [int(v) for v in DeltaTable(str(table)).to_pyarrow_table(columns=["id"]).column("id").to_pylist()]


def padded_events(count: int, pad_bytes: int) -> list[bytes]:
    """Valid events of about ``pad_bytes`` each (the contract ignores the ``pad`` field)."""
    pad = "x" * pad_bytes
    return [
        f'{{"id": {i}, "at": "2024-03-05T10:00:00Z", "kind": "view", "pad": "{pad}"}}'.encode() for i in range(count)
    ]


def produce_redis_url(url: str, stream: str, values: list[bytes]) -> None:
    client = redis.Redis.from_url(url)
    for i in range(0, len(values), 1000):
        produce_redis(client, stream, values[i : i + 1000])
    client.close()


def produce_rabbit(url: str, queue: str, values: list[bytes], ids: list[str] | None = None) -> None:
    """Publish ``values`` to ``queue`` persistently with publisher confirms, each with its id as ``message_id``."""
    conn = pika.BlockingConnection(pika.URLParameters(url))
    channel = conn.channel()
    channel.confirm_delivery()
    for i, value in enumerate(values):
        props = pika.BasicProperties(delivery_mode=2, message_id=ids[i] if ids else None)
        channel.basic_publish("", queue, value, props)
    conn.close()


def rabbit_source(url: str, queue: str, **kw: int) -> RabbitSource:
    return RabbitSource(RabbitConfig(url, queue, **kw))  # type: ignore[arg-type]


def committed_digests(home: Path, dataset: str = "events") -> list[str]:
    """The ident digests every commit of a queue's batches recorded, in commit order (a digest twice: written twice)."""
    from sluice.lake.log import history
    from sluice.sources.streams.positions import STREAM_META

    out: list[str] = []
    for entry in reversed(history(str(home / "lake" / dataset))):
        meta = entry.metadata.get(STREAM_META)
        if isinstance(meta, dict):
            out.extend(meta.get("ids", []))
    return out


def queue_ready(channel: BlockingChannel, queue: str, expected: int = 0) -> int:
    """Messages ready in the queue once no consumer holds any: what it returns arrives asynchronously, so the
    count is read after the consumers are gone and a settling pause, until it is ``expected`` or 3 s passed."""
    deadline = time.monotonic() + 3
    while channel.queue_declare(queue, passive=True).method.consumer_count and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    while True:
        count = int(channel.queue_declare(queue, passive=True).method.message_count)
        if count == expected or time.monotonic() > deadline:
            return count
        time.sleep(0.05)
