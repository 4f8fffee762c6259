"""RabbitMQ quorum queues through pika: manual acknowledgements after the lake commit, poison dead-lettered.

The queue is declared (when ``declare``) as a durable quorum queue whose
dead-letter exchange is ``<queue>.dlx`` (fanout), bound to the quorum queue
``<queue>.dead``. One consumer on one channel, ``basic_qos(prefetch)``: the
broker sends at most ``prefetch`` unacknowledged messages, which is the
source's backpressure (a paused source stops taking them from its buffer).

A message's body is its value; its ``message_id`` its key and ident (a hash
of the body when the producer set none), its headers its headers, its
``timestamp`` (seconds) its timestamp. Its offset is its delivery tag on this
channel: it orders nothing in the lake, which deduplicates queue batches by
ident (:mod:`sluice.sources.streams.delivered`).

``acknowledge`` acks a batch's last delivery tag with ``multiple``: batches
are committed in the order polled, so every earlier tag is in this batch, an
earlier one, or was rejected. pika's connection is not thread-safe: the ack
is handed to the polling thread (``add_callback_threadsafe``) and sent on its
next poll, or on ``close``.

Poison: an undecodable message goes to the quarantine with its batch and is
acknowledged. A message the broker delivered ``max_deliveries`` times before
(quorum queues count them in ``x-delivery-count``: each consumer that died
or failed holding it) is rejected without requeue, so the dead-letter
exchange takes it instead of the lake.
"""

from __future__ import annotations

import functools
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel
from pika.spec import Basic, BasicProperties

from sluice.sources.streams.base import MAX_DELIVERIES, BatchLimits, Message, Offset, StreamBatch
from sluice.sources.streams.delivered import body_ident
from sluice.sources.streams.errors import StreamError, StreamUnreachableError

MAX_PREFETCH = 65_535  # AMQP's prefetch count is 16 bits
DELIVERY_COUNT = "x-delivery-count"


@dataclass(frozen=True)
class RabbitConfig:
    """The broker URL, the queue, the unacknowledged messages in flight, and the deliveries that make a poison."""

    url: str
    queue: str
    prefetch: int = 2_000
    max_deliveries: int = MAX_DELIVERIES
    declare: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.prefetch <= MAX_PREFETCH:
            raise StreamError(f"prefetch is {self.prefetch}", hint=f"set a prefetch from 1 to {MAX_PREFETCH}")
        if self.max_deliveries < 1:
            raise StreamError(f"max_deliveries is {self.max_deliveries}", hint="set max_deliveries to 1 or more")

    @property
    def dead_letter_exchange(self) -> str:
        return f"{self.queue}.dlx"

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.queue}.dead"


def declare_queue(channel: BlockingChannel, config: RabbitConfig) -> None:
    """The quorum queue, its dead-letter exchange and the queue that keeps dead letters (all durable)."""
    quorum = {"x-queue-type": "quorum"}
    channel.exchange_declare(config.dead_letter_exchange, exchange_type="fanout", durable=True)
    channel.queue_declare(config.dead_letter_queue, durable=True, arguments=quorum)
    channel.queue_bind(config.dead_letter_queue, config.dead_letter_exchange)
    channel.queue_declare(
        config.queue, durable=True, arguments={**quorum, "x-dead-letter-exchange": config.dead_letter_exchange}
    )


def delivery_count(props: BasicProperties) -> int:
    """How often the broker delivered the message before (0 when the queue does not count)."""
    count = (props.headers or {}).get(DELIVERY_COUNT, 0)
    return int(count) if isinstance(count, int) else 0


def _header_bytes(value: object) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def to_message(queue: str, method: Basic.Deliver, props: BasicProperties, body: bytes) -> Message:
    ident = props.message_id or body_ident(body)
    headers = tuple((str(k), _header_bytes(v)) for k, v in (props.headers or {}).items() if k != DELIVERY_COUNT)
    return Message(
        queue,
        Offset(int(method.delivery_tag)),
        props.message_id.encode() if props.message_id else None,
        body,
        headers,
        props.timestamp * 1000 if props.timestamp else None,
        ident=ident,
        redelivered=bool(method.redelivered) or delivery_count(props) > 0,
    )


class RabbitSource:
    """A consumer of one RabbitMQ queue (see the module doc)."""

    def __init__(self, config: RabbitConfig) -> None:
        self.config = config
        self.dead_lettered = 0
        self._waiting: deque[Message] = deque()
        self._paused = False
        try:
            self._conn = pika.BlockingConnection(pika.URLParameters(config.url))
            self._channel = self._conn.channel()
            if config.declare:
                declare_queue(self._channel, config)
            self._channel.basic_qos(prefetch_count=config.prefetch)
            self._channel.basic_consume(config.queue, self._on_message, auto_ack=False)
        except pika.exceptions.AMQPConnectionError as exc:
            raise StreamUnreachableError(f"RabbitMQ: {exc!r}", hint="check the broker is up and the URL") from None
        except pika.exceptions.ChannelClosedByBroker as exc:
            raise StreamError(
                f"RabbitMQ refused queue {config.queue}: {exc.reply_text}",
                hint="an existing queue must be a quorum queue with the same arguments, or set declare=False",
            ) from None

    @property
    def name(self) -> str:
        return f"rabbitmq:{self.config.queue}"

    def _on_message(self, channel: BlockingChannel, method: Basic.Deliver, props: BasicProperties, body: bytes) -> None:
        if delivery_count(props) >= self.config.max_deliveries:
            channel.basic_reject(method.delivery_tag, requeue=False)  # to the dead-letter exchange
            self.dead_lettered += 1
            return
        self._waiting.append(to_message(self.config.queue, method, props, body))

    def _events(self, seconds: float) -> None:
        try:
            self._conn.process_data_events(time_limit=seconds)
        except pika.exceptions.AMQPError as exc:
            raise StreamUnreachableError(f"RabbitMQ: {exc!r}", hint="check the broker is up") from None

    def poll(self, limits: BatchLimits) -> StreamBatch:
        if self._paused:
            self._events(min(limits.max_wait_s, 0.1))  # heartbeats and acks; deliveries stop at the prefetch
            return StreamBatch()
        deadline = time.monotonic() + limits.max_wait_s
        self._events(0)
        while not self._waiting and (left := deadline - time.monotonic()) > 0:
            self._events(left)
        batch, size = StreamBatch(), 0
        while self._waiting and len(batch) < limits.max_records:
            message = self._waiting[0]
            if batch.messages and size + message.size > limits.max_bytes:
                break
            batch.messages.append(self._waiting.popleft())
            size += message.size
        return batch

    def acknowledge(self, batch: StreamBatch) -> None:
        if not batch.messages:
            return
        last = max(m.offset.major for m in batch.messages)
        ack = functools.partial(self._channel.basic_ack, delivery_tag=last, multiple=True)
        try:
            self._conn.add_callback_threadsafe(ack)
        except pika.exceptions.AMQPError as exc:  # the connection closed under the batch: it is redelivered
            raise StreamUnreachableError(
                f"RabbitMQ closed the connection before a committed batch was acknowledged: {exc!r}",
                hint="check the broker is up; the queue redelivers the batch and the lake skips it by ident",
            ) from None

    def pause(self) -> None:
        self._paused = True

    def resume(self) -> None:
        self._paused = False

    def paused_partitions(self) -> list[str]:
        return [self.config.queue] if self._paused else []

    def close(self) -> None:
        """Send the acknowledgements still queued, then close (unacknowledged messages go back to the queue)."""
        try:
            if self._conn.is_open:
                self._conn.process_data_events(time_limit=0)
                self._conn.close()
        except pika.exceptions.AMQPError:
            pass  # the broker requeues what was not acknowledged


def dead_letters(channel: BlockingChannel, config: RabbitConfig) -> int:
    """How many messages the queue's dead-letter queue holds."""
    found: Any = channel.queue_declare(config.dead_letter_queue, passive=True)
    return int(found.method.message_count)
