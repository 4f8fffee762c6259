"""RabbitMQ quorum queues: acked after the commit, redeliveries the lake holds acked unwritten, poison dead-lettered."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pika.adapters.blocking_connection import BlockingChannel

from sluice.sources.streams.base import BatchLimits, StreamBatch
from sluice.sources.streams.consume import ConsumeSpec, consume
from sluice.sources.streams.errors import StreamError
from sluice.sources.streams.rabbitmq import RabbitConfig, RabbitSource, dead_letters
from sluice.validate.contracts import Contract
from tests.sluice.sources.streams.brokers import (
    committed_digests,
    lake_ids,
    produce_rabbit,
    queue_ready,
    rabbit_source,
)
from tests.sluice.sources.streams.conftest import event, make_sink

SPEC = ConsumeSpec(BatchLimits(max_records=25, max_wait_s=0.1), follow_s=0, idle_s=0.8)
Queue = tuple[BlockingChannel, RabbitConfig]


def _poll_all(source: RabbitSource, count: int) -> StreamBatch:
    """``count`` messages, over as many polls as their arrival takes."""
    batch, deadline = StreamBatch(), time.monotonic() + 5
    while len(batch) < count and time.monotonic() < deadline:
        batch.messages.extend(source.poll(BatchLimits(max_records=count - len(batch), max_wait_s=0.5)).messages)
    assert len(batch) == count
    return batch


def _ids(n: int, start: int = 0) -> list[str]:
    return [f"m-{i}" for i in range(start, start + n)]


def test_messages_land_once_and_are_acknowledged(
    rabbit_queue: Queue, events_contract: Contract, tmp_path: Path
) -> None:
    channel, config = rabbit_queue
    produce_rabbit(config.url, config.queue, [event(i) for i in range(100)], _ids(100))
    sink = make_sink(tmp_path, events_contract)
    out = consume(rabbit_source(config.url, config.queue, prefetch=40), sink, SPEC)
    assert sorted(lake_ids(tmp_path)) == list(range(100))
    assert all(b.read <= 25 for b in out.batches)
    assert sum(b.written for b in out.batches) == 100
    assert queue_ready(channel, config.queue) == 0


@pytest.mark.parametrize("with_ids", [True, False], ids=["message-id", "body-hash"])
def test_redelivered_messages_the_lake_holds_are_acknowledged_without_writing(
    rabbit_queue: Queue, events_contract: Contract, tmp_path: Path, with_ids: bool
) -> None:
    channel, config = rabbit_queue
    produce_rabbit(config.url, config.queue, [event(i) for i in range(30)], _ids(30) if with_ids else None)
    sink = make_sink(tmp_path, events_contract)
    source = rabbit_source(config.url, config.queue)
    batch = _poll_all(source, 30)
    assert not any(m.redelivered for m in batch.messages)
    sink.write(source.name, batch)  # committed, then the consumer dies before its ack
    source.close()
    assert queue_ready(channel, config.queue, 30) == 30
    produce_rabbit(config.url, config.queue, [event(i) for i in range(30, 40)], _ids(10, 30) if with_ids else None)
    out = consume(rabbit_source(config.url, config.queue), sink, SPEC)
    assert sum(b.duplicate for b in out.batches) == 30
    assert sum(b.written for b in out.batches) == 10
    assert sorted(lake_ids(tmp_path)) == list(range(40))
    digests = committed_digests(tmp_path)
    assert len(digests) == len(set(digests)) == 40, "a redelivered message was committed again"
    assert queue_ready(channel, config.queue) == 0


def test_an_undecodable_message_is_quarantined_and_acknowledged(
    rabbit_queue: Queue, events_contract: Contract, tmp_path: Path
) -> None:
    channel, config = rabbit_queue
    produce_rabbit(config.url, config.queue, [event(0), b"{not json", event(2)], _ids(3))
    out = consume(rabbit_source(config.url, config.queue), make_sink(tmp_path, events_contract), SPEC)
    assert sum(b.quarantined for b in out.batches) == 1
    assert sorted(lake_ids(tmp_path)) == [0, 2]
    assert queue_ready(channel, config.queue) == 0
    assert dead_letters(channel, config) == 0


def test_a_message_delivered_max_deliveries_times_goes_to_the_dead_letter_exchange(
    rabbit_queue: Queue, events_contract: Contract, tmp_path: Path
) -> None:
    channel, config = rabbit_queue
    produce_rabbit(config.url, config.queue, [event(7)], ["poison"])
    for _ in range(2):  # a consumer that fails on it and dies, twice
        failing = rabbit_source(config.url, config.queue, max_deliveries=2)
        _poll_all(failing, 1)
        failing.close()
    produce_rabbit(config.url, config.queue, [event(8)], ["fine"])
    source = rabbit_source(config.url, config.queue, max_deliveries=2)
    out = consume(source, make_sink(tmp_path, events_contract), SPEC)
    assert source.dead_lettered == 1
    assert sum(b.written for b in out.batches) == 1
    assert lake_ids(tmp_path) == [8]
    assert dead_letters(channel, config) == 1
    assert queue_ready(channel, config.queue) == 0


def test_a_queue_declared_otherwise_is_refused_with_a_hint(rabbit_queue: Queue) -> None:
    channel, config = rabbit_queue
    other = f"{config.queue}-classic"
    channel.queue_declare(other, durable=True)
    try:
        with pytest.raises(StreamError, match="quorum"):
            rabbit_source(config.url, other)
    finally:
        channel.queue_delete(other)
        channel.queue_delete(f"{other}.dead")
        channel.exchange_delete(f"{other}.dlx")


def test_acknowledgements_still_queued_are_sent_on_close(rabbit_queue: Queue) -> None:
    channel, config = rabbit_queue
    produce_rabbit(config.url, config.queue, [event(i) for i in range(10)], _ids(10))
    source = rabbit_source(config.url, config.queue)
    batch = _poll_all(source, 10)
    source.acknowledge(batch)  # handed to the polling thread, which polls no more
    source.close()
    assert queue_ready(channel, config.queue) == 0


def test_a_connection_lost_before_the_acknowledgement_is_a_retried_unreachable_error(rabbit_queue: Queue) -> None:
    from sluice.sources.streams.errors import StreamUnreachableError
    from tasks.retry import is_transient

    channel, config = rabbit_queue
    produce_rabbit(config.url, config.queue, [event(i) for i in range(10)], _ids(10))
    source = rabbit_source(config.url, config.queue)
    batch = _poll_all(source, 10)
    source.close()  # the connection is gone, as when the broker dropped it under the fetcher
    with pytest.raises(StreamUnreachableError, match="before a committed batch was acknowledged") as caught:
        source.acknowledge(batch)
    assert is_transient(caught.value)
    assert queue_ready(channel, config.queue, expected=10) == 10
