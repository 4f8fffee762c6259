"""Kafka for the stream drills: keyed orders straight to the brokers, and the broker processes frozen mid-run.

A Kafka client bootstraps through the address it is given, then connects to
the address each broker advertises in its metadata, so a TCP proxy in front of
the bootstrap address cannot cut a consumer off. The drill's Kafka runs go
straight to the brokers (``SLUICE_KAFKA_BOOTSTRAP_SERVERS``), and the broker
fault is a freeze instead: the broker process(es) on this host
(``SLUICE_CHAOS_KAFKA_BROKER_PIDS``, or the action's ``pids``) get SIGSTOP,
then SIGCONT after N seconds. Connections stay open and nothing answers, as in
a long garbage-collection pause or a hung host.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
from typing import Any

from ops.errors import ChaosError
from sluice.settings import get_settings

logger = logging.getLogger(__name__)
DEFAULT_PORT = 9092
PIDS_SETTING = "SLUICE_CHAOS_KAFKA_BROKER_PIDS"
FLUSH_SECONDS = 30.0
DELIVERY_MS = 25_000  # a message not acknowledged by then is reported failed, before the flush gives up
PARTITIONS = 3
MESSAGE_HEADROOM = 64 * 1024  # the producer's message.max.bytes above the largest value (key, headers, framing)


def addresses(servers: str) -> list[tuple[str, int]]:
    """``host:port`` pairs of a bootstrap list (``h1:9092,h2:9092``; the port 9092 when omitted)."""
    found = []
    for item in filter(None, (part.strip() for part in servers.split(","))):
        host, colon, port = item.rpartition(":")
        if not colon:
            host, port = item, ""
        found.append((host or "127.0.0.1", int(port) if port.isascii() and port.isdigit() else DEFAULT_PORT))
    return found


def why_unreachable(servers: str) -> str | None:
    """Why none of the bootstrap servers takes a connection, or None when one does."""
    problems = []
    for host, port in addresses(servers):
        try:
            socket.create_connection((host, port), timeout=2).close()
        except OSError as exc:
            problems.append(f"{host}:{port} ({exc})")
        else:
            return None
    return f"kafka at {', '.join(problems) or repr(servers)} cannot be reached"


def produce(servers: str, topic: str, values: list[bytes], ids: list[int]) -> None:
    """Publish ``values`` to ``topic``, each keyed by its order id, and wait until every one is acknowledged.

    Raises:
        ChaosError: a message was refused or not acknowledged in time.
    """
    from confluent_kafka import KafkaException, Producer

    largest = max((len(v) for v in values), default=0)
    config = {
        "bootstrap.servers": servers,
        "linger.ms": 5,
        "enable.idempotence": True,
        "message.max.bytes": max(1_000_000, largest + MESSAGE_HEADROOM),
        "message.timeout.ms": DELIVERY_MS,
    }
    failed: list[str] = []

    def delivered(err: object, _msg: object) -> None:
        if err is not None:
            failed.append(str(err))

    producer = Producer(config)
    try:
        for i, (value, order_id) in enumerate(zip(values, ids, strict=True)):
            producer.produce(topic, value=value, key=str(order_id).encode(), on_delivery=delivered)
            if i % 500 == 499:
                producer.poll(0)
    except (KafkaException, BufferError) as exc:
        raise ChaosError(f"the drill could not produce to kafka:{topic}: {exc}", hint="see the broker") from None
    left = producer.flush(FLUSH_SECONDS)
    if failed or left:
        raise ChaosError(
            f"kafka:{topic} took {len(values) - len(failed) - left} of {len(values)} message(s)"
            f"{': ' + failed[0] if failed else ''}",
            hint="the broker's answer says why; a message over the topic's max.message.bytes is refused "
            "(lower SLUICE_MAX_RECORD_BYTES below it)",
        )


def _admin(servers: str) -> tuple[Any, bool, set[str]]:
    """An admin client, whether the cluster has a controller to create and delete topics, and its topics.

    Raises:
        ChaosError: the brokers answer no metadata.
    """
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": servers})
    try:
        found = admin.list_topics(timeout=10)
    except KafkaException as exc:
        raise ChaosError(f"kafka at {servers} answers no metadata: {exc}", hint="see the brokers") from None
    return admin, found.controller_id in found.brokers, set(found.topics)


def ensure_topic(servers: str, topic: str, partitions: int = PARTITIONS) -> None:
    """Create the drill's topic with ``partitions`` partitions, unless it exists or the cluster has no controller.

    librdkafka's mock cluster has none: it creates a topic when a producer first names it.

    Raises:
        ChaosError: the brokers answer no metadata, or refuse to create the topic.
    """
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]  # re-exported from the C extension

    admin, controlled, topics = _admin(servers)
    if topic in topics or not controlled:
        return
    try:
        admin.create_topics([NewTopic(topic, partitions)], operation_timeout=10)[topic].result(timeout=20)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise ChaosError(f"kafka did not create the drill's topic {topic}: {exc}", hint="see the brokers") from None


def delete_topic(servers: str, topic: str) -> None:
    """Delete the drill's topic; a cluster that cannot (no controller, as the mock cluster) keeps it, logged."""
    try:
        admin, controlled, topics = _admin(servers)
        if topic not in topics or not controlled:
            logger.info("the drill's topic %s is left on the cluster (no controller to delete it)", topic)
            return
        admin.delete_topics([topic], operation_timeout=10)[topic].result(timeout=20)
    except Exception as exc:  # noqa: BLE001 - cleanup: the drill is over either way
        logger.info("the drill's topic %s was not deleted: %s", topic, exc)


def broker_pids(pids: list[int] | None = None) -> list[int]:
    """The broker processes to freeze: ``pids`` when given, else ``SLUICE_CHAOS_KAFKA_BROKER_PIDS``."""
    return list(pids) if pids else list(get_settings().chaos.kafka_broker_pids)


def why_no_pids(pids: list[int] | None = None) -> str | None:
    """Why the drill cannot freeze the broker processes (none named, not there, not ours to signal), or None."""
    found = broker_pids(pids)
    if not found:
        return f"{PIDS_SETTING} is unset"
    for pid in found:
        if pid in (os.getpid(), os.getppid()) or pid <= 1:
            return f"pid {pid} is not a broker the drill may freeze"
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return f"no process {pid} (a broker pid in {PIDS_SETTING})"
        except PermissionError:
            return f"process {pid} is not this user's to signal"
    return None


def ensure_pids(pids: list[int] | None = None) -> list[int]:
    """The broker processes to freeze.

    Raises:
        ChaosError: none are named, or one cannot be signalled (see :func:`why_no_pids`).
    """
    problem = why_no_pids(pids)
    if problem:
        raise ChaosError(
            f"the Kafka broker cannot be frozen: {problem}",
            hint=f"set {PIDS_SETTING} to the broker process ids on this host (JSON list)",
        )
    return broker_pids(pids)


def freeze(pids: list[int]) -> None:
    """SIGSTOP every process of ``pids``."""
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)


def thaw(pids: list[int]) -> list[int]:
    """SIGCONT every process of ``pids`` that still exists; the ones that were thawed."""
    thawed = []
    for pid in pids:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            continue
        thawed.append(pid)
    return thawed
