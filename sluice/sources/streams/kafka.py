"""Kafka topics through confluent-kafka: a consumer group, offsets committed only after the lake commit.

The consumer never commits on its own (``enable.auto.commit=false``):
:meth:`KafkaSource.acknowledge` commits, per partition, the offset after the
batch's last message once the batch is in the lake (queued: the polling
thread commits them, as a consumer has one owner thread). When the group assigns
a partition, the consumer starts at the lake's position + 1 where the lake
holds one (it may be ahead of the group's offset after a crash between the
two commits, and the group's offset is then moved up to it), else at the group's committed offset (``auto.offset.reset``
for a new group). A batch holds at most ``max_bytes``: a message that would
overflow it, and those fetched with it, are carried to the next batch: never split, never lost.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka import Message as KafkaMessage

from sluice.sources.streams.base import BatchLimits, HeldPositions, MessageColumns, Offset, StreamBatch
from sluice.sources.streams.errors import StreamError
from sluice.sources.streams.kafka_totals import KafkaSpans
from sluice.sources.streams.totals import SpanCount

log = logging.getLogger(__name__)
_FATAL = (KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED)
CONSUME_CHUNK = 2000  # messages asked of librdkafka per call within one batch


@dataclass(frozen=True)
class KafkaConfig:
    """The brokers, topic and consumer group; ``options`` are passed to librdkafka as they are."""

    bootstrap_servers: str
    topic: str
    group: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def consumer_config(self) -> dict[str, Any]:
        return {
            "bootstrap.servers": self.bootstrap_servers,
            "group.id": self.group,
            "auto.offset.reset": "earliest",
            # librdkafka's own prefetch queue, bounded so a paused consumer's memory stays flat.
            "queued.max.messages.kbytes": 16 * 1024,
            **self.options,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
        }


def partition_name(topic: str, partition: int) -> str:
    return f"{topic}/{partition}"


def _headers(pairs: Any) -> tuple[tuple[str, bytes], ...]:
    return tuple((str(k), v.encode() if isinstance(v, str) else v or b"") for k, v in pairs) if pairs else ()


def _columns(topic: str, msgs: list[KafkaMessage]) -> MessageColumns:
    """Messages (without errors) as columns, read straight from librdkafka's message objects."""
    numbers = np.asarray([m.partition() for m in msgs], dtype=np.int64)
    seen, part = np.unique(numbers, return_inverse=True)
    keys: list[Any] = [m.key() for m in msgs]
    values: list[Any] = [m.value() for m in msgs]
    stamps = np.asarray([s if k else -1 for k, s in [m.timestamp() for m in msgs]], dtype=np.int64)  # 0: none
    pairs = [m.headers() for m in msgs]
    headers = [_headers(h) for h in pairs] if any(pairs) else None
    sizes = np.asarray([len(k or b"") + len(v or b"") for k, v in zip(keys, values, strict=True)], dtype=np.int64)
    if headers is not None:
        sizes += np.asarray([sum(len(k) + len(v) for k, v in h) for h in headers], dtype=np.int64)
    return MessageColumns(
        names=tuple(partition_name(topic, p) for p in seen.tolist()),
        part=part.astype(np.int64).reshape(-1),
        offsets=np.asarray([m.offset() for m in msgs], dtype=np.int64),
        keys=keys,
        values=values,
        stamps=stamps,
        headers=headers,
        sizes=sizes,
    )


def _fits(found: MessageColumns, records: int, room_bytes: int, first: bool) -> int:
    """How many of ``found`` fit: at most ``records``, within ``room_bytes``; at least one if ``first``."""
    within = int(np.searchsorted(np.cumsum(found.sizes), room_bytes, side="right"))
    return min(records, max(within, 1 if first else 0))


class KafkaSource:
    """A consumer of one topic in a consumer group (see the module doc)."""

    def __init__(self, config: KafkaConfig, held: HeldPositions) -> None:
        self.config, self._held = config, held
        self._carry: MessageColumns | None = None
        self._paused = False
        self._assigned: list[TopicPartition] = []
        self._acks: deque[TopicPartition] = deque()
        self._spans: KafkaSpans | None = None  # counts batches' spans for completeness, made at the first
        try:
            self._consumer = Consumer(config.consumer_config())
        except KafkaException as exc:
            raise StreamError(f"cannot create a Kafka consumer: {exc}", hint="check the consumer options") from None
        self._consumer.subscribe([config.topic], on_assign=self._on_assign, on_revoke=self._on_revoke)

    @property
    def name(self) -> str:
        return f"kafka:{self.config.topic}"

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        held = self._held()
        for tp in partitions:
            at = held.get(partition_name(tp.topic, tp.partition))
            if at is not None:
                tp.offset = at.major + 1
                # The group's offset may lag the lake (a commit lost to a crash or a rebalance):
                # move it up, or the group's lag never drains for a partition with nothing new.
                self._acks.append(TopicPartition(tp.topic, tp.partition, tp.offset))
        consumer.assign(partitions)
        self._assigned = list(partitions)
        if self._paused:
            consumer.pause(partitions)
        log.info("assigned %s", ", ".join(f"{p.topic}/{p.partition}@{p.offset}" for p in partitions))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._assigned = []
        self._carry = None  # the partition's next owner reads it again from the committed offset
        consumer.unassign()

    def _fetch(self, wanted: int, timeout_s: float) -> MessageColumns | None:
        msgs = self._consumer.consume(num_messages=wanted, timeout=timeout_s)
        good = [m for m in msgs if m.error() is None]
        if len(good) < len(msgs):
            for msg in msgs:
                err = msg.error()
                if err is None:
                    continue
                if err.fatal() or err.code() in _FATAL:
                    raise StreamError(f"Kafka consumer failed: {err.str()}", hint="check the topic, group and ACLs")
                log.warning("kafka: %s", err.str())
        return _columns(self.config.topic, good) if good else None

    def poll(self, limits: BatchLimits) -> StreamBatch:
        self._commit_acks()
        if self._paused:
            self._consumer.consume(num_messages=1, timeout=min(limits.max_wait_s, 0.2))  # paused: returns none
            return StreamBatch()
        chunks: list[MessageColumns] = []
        count = size = 0
        deadline = time.monotonic() + limits.max_wait_s
        while count < limits.max_records:
            found, self._carry = self._carry, None
            if found is None:
                wait = max(0.0, deadline - time.monotonic()) if not count else 0.0
                found = self._fetch(min(CONSUME_CHUNK, limits.max_records - count), wait)
                if found is None:
                    break
            take = _fits(found, limits.max_records - count, limits.max_bytes - size, not count)
            if take < len(found):
                self._carry = found[take:]
                found = found[:take]
            if len(found):
                chunks.append(found)
                count, size = count + len(found), size + int(found.sizes.sum())
            if self._carry is not None:
                break
        return StreamBatch(columns=MessageColumns.concat(chunks)) if chunks else StreamBatch()

    def account(self, batch: StreamBatch, held: dict[str, Offset]) -> list[SpanCount]:
        """The offsets each partition of ``batch`` spans against its messages (:mod:`.kafka_totals`)."""
        if self._spans is None:
            admin = {"bootstrap.servers": self.config.bootstrap_servers, **self.config.options}
            self._spans = KafkaSpans(self.config.topic, self.config.consumer_config(), admin)
        return self._spans.account(batch, held)

    def acknowledge(self, batch: StreamBatch) -> None:
        """Queue the batch's offsets; the thread that polls commits them (a consumer has one owner thread)."""
        for name, span in batch.ranges.items():
            topic, _, part = name.rpartition("/")
            self._acks.append(TopicPartition(topic, int(part), span.last.major + 1))

    def _commit_acks(self) -> None:
        latest: dict[tuple[str, int], TopicPartition] = {}
        while self._acks:
            tp = self._acks.popleft()
            seen = latest.get((tp.topic, tp.partition))
            if seen is None or tp.offset > seen.offset:
                latest[(tp.topic, tp.partition)] = tp
        if not latest:
            return
        try:
            self._consumer.commit(offsets=list(latest.values()), asynchronous=False)
        except KafkaException as exc:
            # A partition moved to another member: its next owner starts from the lake's position.
            log.warning("kafka: committing offsets failed (the lake holds the batch): %s", exc)

    def pause(self) -> None:
        self._paused = True
        if self._assigned:
            self._consumer.pause(self._assigned)

    def resume(self) -> None:
        self._paused = False
        if self._assigned:
            self._consumer.resume(self._assigned)

    def paused_partitions(self) -> list[str]:
        return [partition_name(tp.topic, tp.partition) for tp in self._assigned] if self._paused else []

    def close(self) -> None:
        """Commit the acknowledged offsets and leave the group (call it once polling has stopped)."""
        self._commit_acks()
        self._consumer.close()
        if self._spans is not None:
            self._spans.close()
