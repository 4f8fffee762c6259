"""The drill's stream sources: a RabbitMQ queue, a Redis stream or a Kafka topic of its own, and what went in.

A stream drill produces orders (JSON, or Avro through the schema registry)
to a queue, stream or topic named after the drill, on the broker the
environment's settings name (``SLUICE_RABBITMQ_URL``, ``SLUICE_REDIS_URL``,
``SLUICE_KAFKA_BOOTSTRAP_SERVERS``). Sluice's ``ingest-stream`` runs reach
RabbitMQ and Redis through a :class:`~chaos.proxy.FaultProxy`, and Kafka
straight (a client connects to the addresses the brokers advertise, which a
proxy cannot stand in for; the Kafka fault is a freeze of the broker
processes, :mod:`chaos.kafka`). The drill produces and judges straight
against the broker, so a fault never blinds the judge.

Every message carries its order id (RabbitMQ: as ``message_id``; Redis: as
the entry's ``key``; Kafka: as the message key), and :class:`DrillStream`
remembers what was produced: the good ids the lake must hold exactly once,
and the poison the quarantine (per reason) or the dead-letter queue must hold
instead.
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

BROKERS = ("rabbitmq", "redis", "kafka")
ADDRESS_SETTING = {
    "rabbitmq": "SLUICE_RABBITMQ_URL",
    "redis": "SLUICE_REDIS_URL",
    "kafka": "SLUICE_KAFKA_BOOTSTRAP_SERVERS",
}
ORDER_TS = "2026-03-01T08:00:00+00:00"


def ensure_broker(broker: str) -> str:
    """``broker`` if the drill can disturb it (RabbitMQ, Redis or Kafka), else a ``ChaosError``."""
    if broker not in BROKERS:
        raise ChaosError(f"stream drills run on {', '.join(BROKERS)}, not {broker!r}", hint="broker: one of those")
    return broker


def broker_url(broker: str) -> str | None:
    """The broker's URL (Kafka: its bootstrap servers) from the settings, or None when unset."""
    return get_settings().streams.address(broker)


def why_no_broker(broker: str) -> str | None:
    """Why the drill cannot reach ``broker`` (unset or unreachable), or None."""
    url = broker_url(ensure_broker(broker))
    if not url:
        return f"{ADDRESS_SETTING[broker]} is unset"
    if broker == "kafka":
        from chaos.kafka import why_unreachable

        return why_unreachable(url)
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
    """One queue, stream or topic of the drill, its fault proxy (none for Kafka), and what was produced to it."""

    broker: str
    name: str
    url: str  # straight to the broker (Kafka: the bootstrap servers): for the drill's producer and judge
    proxy: FaultProxy | None
    value_format: str = "json"
    produced: list[int] = field(default_factory=list)  # good order ids, in the order produced
    poison: Counter[str] = field(default_factory=Counter)  # quarantine reason -> messages that must carry it
    poison_ids: set[int] = field(default_factory=set)
    dead_letters: int = 0  # messages the RabbitMQ queue must have dead-lettered
    max_deliveries: int | None = None  # RabbitMQ: what runs pass as max_deliveries (None: the default)
    child: subprocess.Popen[str] | None = None
    frozen: set[int] = field(default_factory=set)  # Kafka: broker processes the drill froze and has not thawed

    @property
    def source(self) -> str:
        """The source as Sluice's commits and quarantine name it."""
        return f"{self.broker}:{self.name}"

    def proxied_url(self) -> str:
        """The address ``ingest-stream`` runs use: the fault proxy's in place of the broker's (Kafka: the brokers)."""
        if self.proxy is None:
            return self.url
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
        if self.broker == "kafka":
            from chaos.kafka import produce

            produce(self.url, self.name, values, ids)
            return
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

    def heal(self) -> None:
        """The proxy forwards again; frozen broker processes run again."""
        if self.proxy is not None:
            self.proxy.heal()
        if self.frozen:
            from chaos.kafka import thaw

            thaw(sorted(self.frozen))
            self.frozen.clear()

    def close(self) -> None:
        """Heal, stop the proxy and any consumer process, and delete the queue, stream or topic (and dead letters)."""
        self.heal()
        if self.proxy is not None:
            self.proxy.stop()
        if self.child is not None and self.child.poll() is None:
            self.child.kill()
            self.child.wait(timeout=10)
        if self.broker == "kafka":
            from chaos.kafka import delete_topic

            delete_topic(self.url, self.name)
            return
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
    """The drill's queue, stream or topic on ``broker``, created (with its fault proxy) on first use."""
    with stack.lock:
        found: DrillStream | None = stack.streams.get(ensure_broker(broker))
        if found is not None:
            return found
        url = broker_url(broker)
        if not url:
            raise ChaosError(f"{ADDRESS_SETTING[broker]} is unset", hint=f"point it at the {broker} broker to disturb")
        name, proxy = f"sluice-drill-{stack.root.name}-{broker}", None
        if broker == "kafka":
            from chaos.kafka import ensure_topic

            ensure_topic(url, name)
        else:
            parts = urlsplit(url)
            proxy = FaultProxy(parts.hostname or "127.0.0.1", parts.port or _port(broker)).start()
        stream = DrillStream(broker, name, url, proxy, value_format)
        stack.streams[broker] = stream
        return stream


def now() -> datetime:
    return datetime.now(timezone.utc)
