"""Kafka on librdkafka's mock cluster: batches into the lake once, offsets after the lake, resume from the lake."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from sluice.sources.streams.base import BatchLimits, StreamBatch
from sluice.sources.streams.consume import ConsumeSpec, consume
from sluice.sources.streams.kafka import KafkaSource
from sluice.validate.contracts import Contract
from tests.sluice.sources.streams.brokers import kafka_source, lake_ids, produce_kafka
from tests.sluice.sources.streams.conftest import event, make_sink


def _committed(bootstrap: str, topic: str, group: str = "sluice") -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        found = consumer.committed([TopicPartition(topic, p) for p in range(3)], timeout=10)
        return {tp.partition: tp.offset for tp in found}
    finally:
        consumer.close()


def test_messages_land_once_and_group_offsets_follow_the_lake(
    kafka: tuple[str, str], events_contract: Contract, tmp_path: Path
) -> None:
    bootstrap, topic = kafka
    produce_kafka(bootstrap, topic, [event(i) for i in range(300)])
    sink = make_sink(tmp_path, events_contract)
    spec = ConsumeSpec(BatchLimits(max_records=40, max_wait_s=0.2), follow_s=0, idle_s=1.5)
    out = consume(kafka_source(bootstrap, topic, sink), sink, spec)
    assert sorted(lake_ids(tmp_path)) == list(range(300))
    assert all(b.read <= 40 for b in out.batches)
    assert sum(b.written for b in out.batches) == 300
    held = sink.positions(f"kafka:{topic}")
    committed = _committed(bootstrap, topic)
    assert {f"{topic}/{p}": o - 1 for p, o in committed.items()} == {p: o.major for p, o in held.items()}


class _Forgetful(KafkaSource):
    """Commits to the lake but never to the group: a crash between the two commits, every batch."""

    def acknowledge(self, batch: StreamBatch) -> None:
        return None


def test_restart_starts_at_the_lake_position_and_moves_the_group_offset_up_to_it(
    kafka: tuple[str, str], events_contract: Contract, tmp_path: Path
) -> None:
    bootstrap, topic = kafka
    produce_kafka(bootstrap, topic, [event(i) for i in range(120)])
    sink = make_sink(tmp_path, events_contract)
    spec = ConsumeSpec(BatchLimits(max_records=50, max_wait_s=0.2), follow_s=0, idle_s=1.5)
    first = kafka_source(bootstrap, topic, sink)
    first.__class__ = _Forgetful
    consume(first, sink, spec)
    assert all(o < 0 for o in _committed(bootstrap, topic).values()), "the group committed no offset"
    again = consume(kafka_source(bootstrap, topic, sink), sink, spec)
    assert sum(b.read for b in again.batches) == 0, "the restart read messages the lake holds"
    assert sorted(lake_ids(tmp_path)) == list(range(120))
    held = sink.positions(f"kafka:{topic}")
    committed = _committed(bootstrap, topic)  # else the group's lag never drains and a scaled run never ends
    assert {f"{topic}/{p}": o - 1 for p, o in committed.items() if o >= 0} == {p: o.major for p, o in held.items()}


def test_a_batch_stays_within_its_byte_bound_and_loses_no_message(
    kafka: tuple[str, str], events_contract: Contract, tmp_path: Path
) -> None:
    bootstrap, topic = kafka
    values = [event(i) for i in range(200)]
    produce_kafka(bootstrap, topic, values)
    sink = make_sink(tmp_path, events_contract)
    limit = 10 * max(len(v) for v in values)
    spec = ConsumeSpec(BatchLimits(max_records=1000, max_bytes=limit, max_wait_s=0.2), follow_s=0, idle_s=1.5)
    sizes: list[int] = []
    source = kafka_source(bootstrap, topic, sink)
    original = source.poll

    def measured(limits: BatchLimits) -> StreamBatch:
        batch = original(limits)
        sizes.append(batch.size)
        return batch

    source.poll = measured  # type: ignore[method-assign]
    consume(source, sink, spec)
    assert max(sizes) <= limit
    assert Counter(lake_ids(tmp_path)) == Counter(range(200))
