"""The drill's stream sources: a RabbitMQ queue or a Redis stream of its own, behind a fault proxy, and what went in.

A stream drill produces orders (JSON, or Avro through the schema registry)
to a queue or stream named after the drill, on the broker the environment's
settings name (``SLUICE_RABBITMQ_URL``, ``SLUICE_REDIS_URL``). Sluice's
``ingest-stream`` runs reach the broker through a
:class:`~chaos.proxy.FaultProxy`; the drill produces and judges straight
against the broker, so a fault never blinds the judge.

Every message carries its order id (RabbitMQ: as ``message_id``; Redis: as
the entry's ``key``), and :class:`DrillStream` remembers what was produced:
the good ids the lake must hold exactly once, and the poison the quarantine
(per reason) or the dead-letter queue must hold instead.

Kafka is not among the drill's brokers: a client learns the broker's own
address from the metadata it answers with, so a TCP proxy in front of the
bootstrap address sees only the first connection (see docs/chaos.md).
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from chaos.proxy import FaultProxy
from ops.errors import ChaosError
from sluice.settings import get_settings

if TYPE_CHECKING:
    from chaos.stack import DrillStack

BROKERS = ("rabbitmq", "redis")
ADDRESS_SETTING = {"rabbitmq": "SLUICE_RABBITMQ_URL", "redis": "SLUICE_REDIS_URL"}
ORDER_TS = "2026-03-01T08:00:00+00:00"


def ensure_broker(broker: str) -> str:
    """``broker`` if the drill can disturb it (RabbitMQ or Redis), else a ``ChaosError``."""
    if broker not in BROKERS:
        raise ChaosError(
            f"stream drills run on {' or '.join(BROKERS)}, not {broker!r}",
            hint="Kafka's clients connect to the address the broker advertises, which a proxy cannot stand in for",
        )
    return broker


def broker_url(broker: str) -> str | None:
    """The broker's URL from the settings, or None when unset."""
    streams = get_settings().streams
    secret = streams.rabbitmq_url if broker == "rabbitmq" else streams.redis_url
    return secret.get_secret_value() if secret is not None else None


def why_no_broker(broker: str) -> str | None:
    """Why the drill cannot reach ``broker`` (unset or unreachable), or None."""
    url = broker_url(ensure_broker(broker))
    if not url:
        return f"{ADDRESS_SETTING[broker]} is unset"
    parts = urlsplit(url)
    import socket

    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or _port(broker)), timeout=2).close()
    except OSError as exc:
        return f"{broker} at {parts.hostname}:{parts.port} cannot be reached ({exc})"
    return None


def _port(broker: str) -> int:
    return 5672 if broker == "rabbitmq" else 6379


def order_record(order_id: int) -> dict[str, Any]:
    """A valid order of the packaged contract, as a record (timestamps as datetimes)."""
    return {
        "order_id": order_id,
        "customer_id": f"C{order_id % 1_000_000:06d}",
        "order_ts": datetime.fromisoformat(ORDER_TS),
        "status": ("placed", "paid", "shipped", "delivered")[order_id % 4],
        "amount": round((order_id * 37) % 90_000 / 7.0, 2),
        "currency": ("EUR", "USD", "GBP", "CHF")[order_id % 4],
        "quantity": 1 + order_id % 40,
        "discount": None if order_id % 3 == 0 else (order_id % 10) / 10.0,
        "channel": ("web", "app", "store", "phone")[order_id % 4],
        "country": ("DE", "FR", "NL", "AT")[order_id % 4],
        "email": f"buyer{order_id}@example.com",
        "updated_at": None,
    }


def order_json(order_id: int) -> bytes:
    """A valid order as the JSON value of a message."""
    record = order_record(order_id)
    record["order_ts"] = ORDER_TS
    return json.dumps(record).encode()


@dataclass
class DrillStream:
    """One queue or stream of the drill, its fault proxy, and what was produced to it."""

    broker: str
    name: str
    url: str  # straight to the broker: for the drill's producer and judge
    proxy: FaultProxy
    value_format: str = "json"
    produced: list[int] = field(default_factory=list)  # good order ids, in the order produced
    poison: Counter[str] = field(default_factory=Counter)  # quarantine reason -> messages that must carry it
    poison_ids: set[int] = field(default_factory=set)
    dead_letters: int = 0  # messages the RabbitMQ queue must have dead-lettered
    max_deliveries: int | None = None  # RabbitMQ: what runs pass as max_deliveries (None: the default)
    child: subprocess.Popen[str] | None = None

    @property
    def source(self) -> str:
        """The source as Sluice's commits and quarantine name it."""
        return f"{self.broker}:{self.name}"

    def proxied_url(self) -> str:
        """The broker's URL with the fault proxy's address in place of the broker's."""
        parts = urlsplit(self.url)
        user = parts.netloc.rpartition("@")[0]
        netloc = f"{user}@" if user else ""
        return urlunsplit(parts._replace(netloc=f"{netloc}{self.proxy.host}:{self.proxy.port}"))

    def rabbit_config(self) -> Any:
        from sluice.sources.streams.base import MAX_DELIVERIES
        from sluice.sources.streams.rabbitmq import RabbitConfig

        return RabbitConfig(self.url, self.name, max_deliveries=self.max_deliveries or MAX_DELIVERIES)

    def send(self, values: list[bytes], ids: list[int]) -> None:
        """Publish ``values`` straight to the broker, each named by its order id."""
        if self.broker == "redis":
            import redis

            client = redis.Redis.from_url(self.url)
            try:
                pipe = client.pipeline(transaction=False)
                for value, order_id in zip(values, ids, strict=True):
                    pipe.xadd(self.name, {"value": value, "key": str(order_id)})
                pipe.execute()
            finally:
                client.close()
            return
        import pika

        from sluice.sources.streams.rabbitmq import declare_queue

        conn = pika.BlockingConnection(pika.URLParameters(self.url))
        try:
            channel = conn.channel()
            declare_queue(channel, self.rabbit_config())
            channel.confirm_delivery()
            for value, order_id in zip(values, ids, strict=True):
                props = pika.BasicProperties(delivery_mode=2, message_id=f"order-{order_id}")
                channel.basic_publish("", self.name, value, props)
        finally:
            conn.close()

    def dead_lettered(self) -> int:
        """Messages in the queue's dead-letter queue (0 for a Redis stream)."""
        if self.broker != "rabbitmq":
            return 0
        import pika

        from sluice.sources.streams.rabbitmq import dead_letters, declare_queue

        conn = pika.BlockingConnection(pika.URLParameters(self.url))
        try:
            channel = conn.channel()
            declare_queue(channel, self.rabbit_config())
            return dead_letters(channel, self.rabbit_config())
        finally:
            conn.close()

    def close(self) -> None:
        """Stop the proxy and any consumer process, and delete the queue or stream with its dead letters."""
        self.proxy.stop()
        if self.child is not None and self.child.poll() is None:
            self.child.kill()
            self.child.wait(timeout=10)
        if self.broker == "redis":
            import redis

            client = redis.Redis.from_url(self.url)
            client.delete(self.name)
            client.close()
            return
        import pika

        conn = pika.BlockingConnection(pika.URLParameters(self.url))
        channel = conn.channel()
        config = self.rabbit_config()
        for queue in (config.queue, config.dead_letter_queue):
            channel.queue_delete(queue)
        channel.exchange_delete(config.dead_letter_exchange)
        conn.close()


def ensure_stream(stack: DrillStack, broker: str, value_format: str = "json") -> DrillStream:
    """The drill's queue or stream on ``broker``, created (with its fault proxy) on first use."""
    with stack.lock:
        found: DrillStream | None = stack.streams.get(ensure_broker(broker))
        if found is not None:
            return found
        url = broker_url(broker)
        if not url:
            raise ChaosError(f"{ADDRESS_SETTING[broker]} is unset", hint=f"point it at the {broker} broker to disturb")
        parts = urlsplit(url)
        proxy = FaultProxy(parts.hostname or "127.0.0.1", parts.port or _port(broker)).start()
        stream = DrillStream(broker, f"sluice-drill-{stack.root.name}-{broker}", url, proxy, value_format)
        stack.streams[broker] = stream
        return stream


def now() -> datetime:
    return datetime.now(timezone.utc)
