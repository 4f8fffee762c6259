"""Lag read from the real brokers: the mock Kafka cluster, Redis and RabbitMQ."""

from __future__ import annotations

import pika
import pytest
import redis
from confluent_kafka import Consumer, TopicPartition
from hypothesis import given
from hypothesis import strategies as st

from sluice.sources.streams.errors import StreamError, StreamUnreachableError
from sluice.sources.streams.lag import BROKERS, StreamTarget, kafka_lag, rabbit_lag, redis_lag, stream_lag
from sluice.sources.streams.rabbitmq import RabbitConfig
from tests.sluice.sources.streams.brokers import produce_kafka, produce_rabbit, produce_redis
from tests.sluice.sources.streams.conftest import REDIS_URL, event

pytestmark = pytest.mark.integration


def commit_kafka(bootstrap: str, topic: str, group: str, offsets: dict[int, int]) -> None:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False)
    finally:
        consumer.close()


def test_kafka_lag_is_the_high_watermark_minus_the_groups_committed_offset(kafka: tuple[str, str]) -> None:
    bootstrap, topic = kafka
    produce_kafka(bootstrap, topic, [event(i) for i in range(30)], keys=[None] * 30)
    before = kafka_lag(bootstrap, topic, "lagging")
    assert [p.partition for p in before] == [f"{topic}/0", f"{topic}/1", f"{topic}/2"]
    assert sum(int(p.end or 0) for p in before) == 30
    assert [p.lag for p in before] == [int(p.end or 0) for p in before]  # never committed: everything lags
    assert {p.position for p in before} == {None}

    ends = {i: int(p.end or 0) for i, p in enumerate(before)}
    commit_kafka(bootstrap, topic, "lagging", {0: ends[0], 1: max(ends[1] - 3, 0)})
    after = kafka_lag(bootstrap, topic, "lagging")
    assert [p.lag for p in after] == [0, min(3, ends[1]), ends[2]]
    assert after[0].position == str(ends[0])


def test_dead_kafka_brokers_are_one_line_with_a_hint() -> None:
    from chaos.pgserver import free_port

    with pytest.raises(StreamUnreachableError) as dead:
        kafka_lag(f"127.0.0.1:{free_port()}", "t", "g", timeout_s=1)
    assert "\n" not in dead.value.args[0] and dead.value.hint


def test_redis_lag_counts_undelivered_and_pending_entries(redis_stream: tuple[redis.Redis, str]) -> None:
    client, key = redis_stream
    ids = produce_redis(client, key, [event(i) for i in range(10)])
    client.xgroup_create(key, "sluice", id="0")
    client.xreadgroup("sluice", "c1", {key: ">"}, count=4)
    client.xack(key, "sluice", ids[0])

    (lag,) = redis_lag(REDIS_URL, key, "sluice")
    assert (lag.lag, lag.pending, lag.consumers) == (6, 3, 1)
    assert (lag.end, lag.position) == (ids[-1].decode(), ids[3].decode())
    with pytest.raises(StreamError, match="no group"):
        redis_lag(REDIS_URL, key, "other")


def test_rabbit_lag_is_the_queues_ready_messages(
    rabbit_queue: tuple[pika.adapters.blocking_connection.BlockingChannel, RabbitConfig],
) -> None:
    _, config = rabbit_queue
    produce_rabbit(config.url, config.queue, [event(i) for i in range(7)])
    (lag,) = stream_lag("rabbitmq", config.url, config.queue, "unused")
    assert (lag.partition, lag.lag, lag.consumers) == (config.queue, 7, 0)
    with pytest.raises(StreamError, match="missing-queue"):
        rabbit_lag(config.url, f"{config.queue}-missing-queue")


def test_partition_owners_name_the_member_each_partition_is_assigned_to() -> None:
    from confluent_kafka import ConsumerGroupState, TopicPartition
    from confluent_kafka.admin import ConsumerGroupDescription, MemberAssignment, MemberDescription

    from sluice.sources.streams.lag import partition_owners

    members = [
        MemberDescription("m-1", "sluice-a", "/h1", MemberAssignment([TopicPartition("t", 0), TopicPartition("t", 2)])),
        MemberDescription("m-2", "", "/h2", MemberAssignment([TopicPartition("t", 1), TopicPartition("other", 1)])),
    ]
    described = ConsumerGroupDescription("g", False, members, "range", ConsumerGroupState.STABLE, None)
    assert partition_owners(described, "t") == {0: ["sluice-a"], 1: ["m-2"], 2: ["sluice-a"]}


@given(st.text(max_size=60))
def test_any_text_is_a_stream_target_or_one_stream_error(text: str) -> None:
    try:
        found = StreamTarget.parse(text)
    except StreamError as exc:
        assert exc.hint and "\n" not in exc.args[0]
        return
    assert found.broker in BROKERS and found.topic and found.group
    assert StreamTarget.parse(found.text()) == found


def test_a_stream_target_names_its_broker_topic_and_group() -> None:
    assert StreamTarget.parse("redis:orders") == StreamTarget("redis", "orders", "sluice")
    assert StreamTarget.parse("kafka:clicks@web") == StreamTarget("kafka", "clicks", "web")
