"""How far a consumer group is behind its broker, per Kafka partition, Redis stream or RabbitMQ queue.

Kafka: the partition's high watermark minus the group's committed offset (a
partition the group never committed lags by everything the broker still
holds: high minus low watermark). Redis: ``XINFO GROUPS`` ``lag`` (entries not
yet delivered to the group; unknown after deletions in the middle of the
stream) and ``pending`` (delivered, not acknowledged). RabbitMQ: the queue's
ready messages from a passive declare. Every reader only looks: nothing is
consumed, committed or acknowledged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sluice.sources.streams.errors import StreamError, StreamUnreachableError

log = logging.getLogger(__name__)

BROKERS = ("kafka", "redis", "rabbitmq")
DEFAULT_GROUP = "sluice"


@dataclass(frozen=True)
class StreamTarget:
    """A stream whose lag is watched: the broker kind, the topic (stream key, queue) and the consumer group."""

    broker: str
    topic: str
    group: str = DEFAULT_GROUP

    @classmethod
    def parse(cls, text: str) -> StreamTarget:
        """``"redis:orders"`` or ``"kafka:clicks@web"`` (the group ``sluice`` when omitted).

        Raises:
            StreamError: not ``broker:topic[@group]`` with a known broker.
        """
        broker, _, rest = text.partition(":")
        topic, _, group = rest.partition("@")
        if broker not in BROKERS or not topic:
            raise StreamError(f"{text!r} is not a stream", hint=f"write broker:topic[@group], broker one of {BROKERS}")
        return cls(broker, topic, group or DEFAULT_GROUP)

    def text(self) -> str:
        return f"{self.broker}:{self.topic}@{self.group}"


@dataclass(frozen=True)
class PartitionLag:
    """One partition's (stream's, queue's) end on the broker, the group's position and the lag between them.

    ``end`` and ``position`` are broker positions as text (``None``: the broker has none, the group none yet);
    ``lag`` is in messages (``None``: the broker cannot tell); ``pending`` counts delivered, unacknowledged
    messages and ``consumers`` the group's consumers of the partition where the broker reports them;
    ``members`` names them (Kafka: the group member's client id that owns the partition; Redis: the consumers).
    """

    broker: str
    topic: str
    partition: str
    end: str | None
    position: str | None
    lag: int | None
    pending: int | None = None
    consumers: int | None = None
    members: tuple[str, ...] = ()

    @property
    def backlog(self) -> int | None:
        """Messages not yet in the lake: the lag plus those delivered and unacknowledged (Redis pending).

        Kafka's lag already counts read-ahead messages, as offsets are committed after the lake; a
        Redis group's lag does not, so a consumer's prefetch would hide the work it holds.
        """
        return None if self.lag is None else self.lag + (self.pending or 0)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def kafka_lag(
    bootstrap_servers: str,
    topic: str,
    group: str,
    options: Mapping[str, Any] | None = None,
    timeout_s: float = 10.0,
) -> list[PartitionLag]:
    """Per partition of ``topic``: high watermark, the group's committed offset, and the lag.

    Raises:
        StreamUnreachableError: the brokers do not answer within ``timeout_s``.
        StreamError: the topic does not exist.
    """
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    config = {"bootstrap.servers": bootstrap_servers, "group.id": group, "enable.auto.commit": False, **(options or {})}
    consumer = Consumer(config)
    try:
        meta = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
        if meta is None or meta.error is not None or not meta.partitions:
            raise StreamError(f"Kafka topic {topic!r} not found", hint="check the topic name and the brokers")
        wanted = [TopicPartition(topic, p) for p in sorted(meta.partitions)]
        committed = {tp.partition: tp.offset for tp in consumer.committed(wanted, timeout=timeout_s)}
        owners = kafka_owners(config, topic, group, timeout_s)
        found = []
        for tp in wanted:
            low, high = consumer.get_watermark_offsets(tp, timeout=timeout_s, cached=False)
            at = committed.get(tp.partition, -1)
            lag = max(high - (at if at >= 0 else low), 0)
            members = tuple(owners.get(tp.partition, ())) if owners is not None else ()
            count = len(members) if owners is not None else None
            name = f"{topic}/{tp.partition}"
            found.append(PartitionLag("kafka", topic, name, str(high), _offset(at), lag, None, count, members))
        return found
    except KafkaException as exc:
        raise StreamUnreachableError(
            f"Kafka at {bootstrap_servers}: {exc.args[0].str() if exc.args else exc}",
            hint="check the brokers are up and the address",
        ) from None
    finally:
        consumer.close()


def kafka_owners(config: Mapping[str, Any], topic: str, group: str, timeout_s: float) -> dict[int, list[str]] | None:
    """Per partition of ``topic``, the client ids of the group's members it is assigned to (AdminClient).

    None when the brokers cannot describe the group (librdkafka's mock cluster lacks DescribeGroups).
    """
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({k: v for k, v in config.items() if k not in ("group.id", "enable.auto.commit")})
    try:
        found = admin.describe_consumer_groups([group], request_timeout=timeout_s)[group]
        return partition_owners(found.result(timeout=timeout_s), topic)
    except KafkaException as exc:
        log.info("kafka: group %s not described: %s", group, exc)
        return None


def partition_owners(described: Any, topic: str) -> dict[int, list[str]]:
    """Per partition of ``topic``, the members of a ``ConsumerGroupDescription`` assigned to it (client id)."""
    owners: dict[int, list[str]] = {}
    for member in described.members:
        assigned = member.assignment.topic_partitions if member.assignment is not None else []
        for tp in assigned:
            if tp.topic == topic:
                owners.setdefault(tp.partition, []).append(member.client_id or member.member_id)
    return owners


def _offset(committed: int) -> str | None:
    return str(committed) if committed >= 0 else None


def _text(value: object) -> str | None:
    return value.decode() if isinstance(value, bytes) else None if value is None else str(value)


def redis_lag(url: str, stream: str, group: str) -> list[PartitionLag]:
    """The stream's last entry id, the group's last delivered id, its lag, pending entries and consumers.

    Raises:
        StreamUnreachableError: the server cannot be reached.
        StreamError: the stream or the group does not exist.
    """
    import redis

    from sluice.sources.streams.redis_streams import REDIS_ERRORS, redis_address, redis_client

    client = redis_client(url, 10.0)
    try:
        info = client.xinfo_stream(stream)
        groups = {_text(g["name"]): g for g in client.xinfo_groups(stream)}
        names = (
            tuple(sorted(_text(c["name"]) or "" for c in client.xinfo_consumers(stream, group)))
            if group in groups
            else ()
        )
    except REDIS_ERRORS as exc:
        raise StreamUnreachableError(
            f"Redis at {redis_address(url)}: {exc or type(exc).__name__}", hint="check the server is up"
        ) from None
    except redis.ResponseError as exc:
        raise StreamError(f"Redis stream {stream!r}: {exc}", hint="check the stream key") from None
    finally:
        client.close()
    if group not in groups:
        raise StreamError(f"Redis stream {stream!r} has no group {group!r}", hint="check the consumer group name")
    found = groups[group]
    lag = found.get("lag")
    return [
        PartitionLag(
            "redis",
            stream,
            stream,
            _text(info.get("last-generated-id")),
            _text(found.get("last-delivered-id")),
            None if lag is None else int(lag),
            int(found.get("pending", 0)),
            int(found.get("consumers", 0)),
            names,
        )
    ]


def rabbit_lag(url: str, queue: str) -> list[PartitionLag]:
    """The queue's ready messages (its lag: a queue has no positions) and its consumers.

    Raises:
        StreamUnreachableError: the broker cannot be reached.
        StreamError: the queue does not exist.
    """
    import pika

    try:
        conn = pika.BlockingConnection(pika.URLParameters(url))
    except pika.exceptions.AMQPConnectionError as exc:
        raise StreamUnreachableError(f"RabbitMQ: {exc!r}", hint="check the broker is up and the URL") from None
    try:
        method = conn.channel().queue_declare(queue, passive=True).method
    except pika.exceptions.ChannelClosedByBroker as exc:
        raise StreamError(f"RabbitMQ queue {queue!r}: {exc.reply_text}", hint="check the queue name") from None
    finally:
        if conn.is_open:
            conn.close()
    count = int(method.message_count)
    return [PartitionLag("rabbitmq", queue, queue, None, None, count, consumers=int(method.consumer_count))]


def stream_lag(
    broker: str, address: str, topic: str, group: str, kafka_options: Mapping[str, Any] | None = None
) -> list[PartitionLag]:
    """The lag of ``topic`` (a Kafka topic, Redis stream or RabbitMQ queue) at ``address`` for ``group``.

    ``kafka_options``: librdkafka options of a Kafka client (TLS, SASL).

    Raises:
        StreamError: ``broker`` is not one of :data:`BROKERS`, or as the broker's reader.
        StreamUnreachableError: the broker cannot be reached.
    """
    if broker == "kafka":
        return kafka_lag(address, topic, group, kafka_options)
    if broker == "redis":
        return redis_lag(address, topic, group)
    if broker == "rabbitmq":
        return rabbit_lag(address, topic)
    raise StreamError(f"unknown broker {broker!r}", hint=f"use one of {', '.join(BROKERS)}")
