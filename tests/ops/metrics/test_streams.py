"""Stream lag as metrics from the mock Kafka cluster, and the default rule that pages on a backlog."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from ops.alerts.rules import RuleSet, load_rules
from ops.alerts.service import run_check
from ops.baselines.registry import BaselineRegistry
from ops.metrics.embedded import EmbeddedStore
from ops.metrics.models import Selector
from ops.metrics.streams import STREAM_LAG_MESSAGES, collect_stream_metrics
from sluice.sources.streams.errors import StreamUnreachableError
from sluice.sources.streams.lag import kafka_lag
from tests.sluice.sources.streams.conftest import KafkaCluster, event, kafka, kafka_cluster  # noqa: F401 - fixtures

pytestmark = pytest.mark.integration
GROUP = "lag-metrics"


def produce(bootstrap: str, topic: str, count: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i in range(count):
        producer.produce(topic, value=event(i), partition=0)
        if i % 1000 == 999:
            producer.poll(0)
    assert producer.flush(30) == 0


def catch_up(bootstrap: str, topic: str, behind: int = 0) -> None:
    """Commit the group's offset on partition 0 at ``behind`` messages before the end."""
    (end,) = [int(p.end or 0) for p in kafka_lag(bootstrap, topic, GROUP) if p.partition == f"{topic}/0"]
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP, "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition(topic, 0, max(end - behind, 0))], asynchronous=False)
    finally:
        consumer.close()


def stream_rules() -> RuleSet:
    rules = [r for r in load_rules().rules if r.selector == STREAM_LAG_MESSAGES]
    assert [r.id for r in rules] == ["stream-lag"]
    return RuleSet(rules=rules)


def firing(store: EmbeddedStore, home: Path, at: datetime, partition: str) -> list[tuple[str, str | None]]:
    evaluation = run_check(stream_rules(), store, BaselineRegistry(home / "baselines"), home, at, [])
    return [(r.rule_id, r.runbook) for r in evaluation.results
            if r.status == "firing" and r.labels.get("partition") == partition]  # fmt: skip


def test_lag_is_sampled_per_partition_and_a_backlog_fires_the_rule_until_caught_up(
    kafka: tuple[str, str], tmp_path: Path
) -> None:
    bootstrap, topic = kafka
    store, first = EmbeddedStore(tmp_path / "metrics"), f"{topic}/0"
    start = datetime.now(timezone.utc).replace(microsecond=0)
    at = start
    for step in range(16):  # a steady consumer: a few messages behind at each sample
        produce(bootstrap, topic, 5)
        catch_up(bootstrap, topic, behind=step % 4)
        assert collect_stream_metrics(store, "kafka", bootstrap, topic, GROUP, now=at, environment="test") == 3
        at += timedelta(minutes=2)
    (series,) = [
        s for s in store.query_range(Selector(STREAM_LAG_MESSAGES), start, at) if s.labels["partition"] == first
    ]
    assert series.labels == {"broker": "kafka", "topic": topic, "partition": first, "environment": "test"}
    assert sorted({float(v) for v in series.values}) == [0.0, 1.0, 2.0, 3.0]
    assert not firing(store, tmp_path, at - timedelta(minutes=2), first)

    produce(bootstrap, topic, 5_000)  # the consumer stops
    for _ in range(6):
        collect_stream_metrics(store, "kafka", bootstrap, topic, GROUP, now=at, environment="test")
        at += timedelta(minutes=2)
    assert firing(store, tmp_path, at - timedelta(minutes=2), first) == [("stream-lag", "stream-lag")]

    catch_up(bootstrap, topic)
    for _ in range(10):
        collect_stream_metrics(store, "kafka", bootstrap, topic, GROUP, now=at, environment="test")
        at += timedelta(minutes=2)
    assert not firing(store, tmp_path, at - timedelta(minutes=2), first)


def test_an_unreachable_broker_is_one_line_with_a_hint(tmp_path: Path) -> None:
    from chaos.pgserver import free_port

    with pytest.raises(StreamUnreachableError) as raised:
        collect_stream_metrics(EmbeddedStore(tmp_path / "m"), "redis", f"redis://127.0.0.1:{free_port()}/0", "s", "g")
    assert "\n" not in raised.value.args[0] and raised.value.hint
