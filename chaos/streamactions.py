"""Actions of the stream drills: Chaos Toolkit Python providers on the drill's queue, stream or topic.

Like :mod:`chaos.actions`, each works on the drill in progress and returns a
small dict for the journal; an action that cannot do its job raises (and fails
the drill); *faults* stamp the moment the first fault went in.

- production: :func:`produce` (good orders);
- runs: :func:`ingest_stream` (the ``ingest-stream`` flow, through the broker's fault proxy; Kafka straight);
- faults: :func:`cut_broker_mid_batch` and :func:`freeze_broker_mid_batch` (Kafka; run them in the background),
  :func:`kill_consumer_mid_batch`, :func:`produce_poison`, :func:`dead_letter_poison`,
  :func:`produce_incompatible_schema`.

Rollbacks: :func:`chaos.actions.heal` heals the brokers' proxies and thaws frozen brokers too.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from chaos.actions import fault
from chaos.drill import current
from chaos.streamparity import stream_commits
from chaos.streamruns import killed, run_stream, start_child
from chaos.streams import DrillStream, ensure_stream, order_json
from ops.errors import ChaosError
from sluice.validate.quality import Reason

POLL = 0.05
POISON_KINDS = {"undecodable": Reason.UNDECODABLE_BYTES, "too-large": Reason.RECORD_TOO_LARGE}


def _stream(broker: str, value_format: str = "json") -> DrillStream:
    return ensure_stream(current().stack, broker, value_format)


def _ids(count: int) -> list[int]:
    if count < 1:
        raise ChaosError(f"cannot produce {count} message(s)", hint="messages: 1 or more")
    first = current().stack.allocate_ids(count) + 1
    return list(range(first, first + count))


def send_good(stream: DrillStream, count: int) -> list[int]:
    """``count`` valid orders to ``stream``, remembered as produced; their ids."""
    ids = _ids(count)
    stream.send([order_json(i) for i in ids], ids)
    stream.produced.extend(ids)
    return ids


def produce(broker: str, messages: int, configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Produce ``messages`` valid JSON orders to the drill's queue or stream on ``broker``."""
    stream = _stream(broker)
    ids = send_good(stream, messages)
    return {"detail": f"{len(ids):,} orders produced to {stream.source}", "messages": len(ids)}


def ingest_stream(
    broker: str, label: str, max_records: int = 25, configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Run ``ingest-stream`` over the drill's stream until idle; a failed flow run is an outcome, not a failure."""
    drill = current()
    stream = drill.stack.streams.get(broker) or _stream(broker)
    return run_stream(drill, stream, label=label, max_records=max_records).to_dict()


def _wait_for_commit(stream: DrillStream, before: int, timeout: float, alive: Any = None) -> bool:
    """Whether a new lake commit of ``stream``'s batches appears within ``timeout`` (while ``alive()``)."""
    stack = current().stack
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(stream_commits(stack, stream.source)) > before:
            return True
        if alive is not None and not alive():
            return False
        time.sleep(POLL)
    return False


@fault
def cut_broker_mid_batch(
    broker: str, seconds: float = 3.0, timeout: float = 60, configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Once the run committed its first batch, the broker goes away (connections reset and refused) for ``seconds``.

    Run it in the background, before the run it hurts.
    """
    stream = _stream(broker)
    if stream.proxy is None:
        raise ChaosError(f"{stream.source} has no fault proxy", hint="freeze_broker_mid_batch disturbs Kafka")
    before = len(stream_commits(current().stack, stream.source))
    if not _wait_for_commit(stream, before, timeout):
        raise ChaosError(f"no batch of {stream.source} was committed within {timeout:g} s", hint="see the run")
    stream.proxy.outage(seconds)
    landed = len(stream_commits(current().stack, stream.source)) - before
    return {
        "detail": f"{broker} cut mid-stream for {seconds:g} s after {landed} committed batch(es) of the run",
        "down_for_seconds": seconds,
    }


@fault
def freeze_broker_mid_batch(
    broker: str = "kafka",
    seconds: float = 3.0,
    pids: list[int] | None = None,
    timeout: float = 60,
    configuration: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Once the run committed its first batch, the broker processes stop (SIGSTOP) for ``seconds``, then go on.

    ``pids``: the broker processes on this host (``SLUICE_CHAOS_KAFKA_BROKER_PIDS`` when omitted). Their
    connections stay open and nothing answers. Run it in the background, before the run it hurts; the rollback
    :func:`chaos.actions.heal` sends SIGCONT whatever happened here.
    """
    from chaos.kafka import ensure_pids, freeze, thaw

    frozen = ensure_pids(pids)
    stream = _stream(broker)
    before = len(stream_commits(current().stack, stream.source))
    if not _wait_for_commit(stream, before, timeout):
        raise ChaosError(f"no batch of {stream.source} was committed within {timeout:g} s", hint="see the run")
    stream.frozen.update(frozen)
    try:
        freeze(frozen)
        at_freeze = len(stream_commits(current().stack, stream.source))
        time.sleep(seconds)
    finally:
        thaw(frozen)
        stream.frozen.difference_update(frozen)
    at_thaw = len(stream_commits(current().stack, stream.source))
    return {
        "detail": f"{broker} froze (SIGSTOP of pid {', '.join(map(str, frozen))}) for {seconds:g} s "
        f"after the run's first committed batch; {at_thaw - before} committed batch(es) of the run by the thaw",
        "frozen_for_seconds": seconds,
        "pids": frozen,
        "commits_at_freeze": at_freeze,
        "commits_at_thaw": at_thaw,
    }


@fault
def kill_consumer_mid_batch(
    broker: str, label: str = "killed", timeout: float = 90, configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Run ``ingest-stream`` in a child process and SIGKILL it once it committed a batch (more are to come)."""
    from chaos.ingestion import utcnow

    drill = current()
    stream = _stream(broker)
    before = len(stream_commits(drill.stack, stream.source))
    started = utcnow()
    request = start_child(drill, stream, label=label)
    child = stream.child
    if child is None:
        raise ChaosError(f"no consumer process of {stream.source} started", hint="see the drill's log")
    if not _wait_for_commit(stream, before, timeout, alive=lambda: child.poll() is None):
        child.kill()
        child.wait(timeout=10)
        raise ChaosError(
            f"the consumer ended or committed nothing within {timeout:g} s before it could be killed",
            hint="produce more messages, so that the run is mid-stream when it is killed",
        )
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    commits = len(stream_commits(drill.stack, stream.source)) - before
    detail = f"SIGKILLed the consumer (pid {child.pid}) of {stream.source} after {commits} committed batch(es)"
    killed(drill, request, started, detail)
    return {"detail": detail, "pid": child.pid, "commits_before_kill": commits}


def _poison_value(kind: str) -> bytes:
    from sluice.settings import get_settings

    if kind == "undecodable":
        return b'{"order_id": 1, "customer_id": "\xff\xfe\xfa"}'
    limit = get_settings().record_limits().max_record_bytes
    return b'{"order_id": 1, "pad": "' + b"x" * limit + b'"}'


@fault
def produce_poison(
    broker: str, kinds: list[str], good: int = 60, configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Good orders, then one poison message of each of ``kinds`` (undecodable, too-large), then good orders again."""
    unknown = sorted(set(kinds) - set(POISON_KINDS))
    if unknown or not kinds:
        raise ChaosError(f"unknown poison {unknown or kinds}", hint=f"kinds: {', '.join(POISON_KINDS)}")
    stream = _stream(broker)
    send_good(stream, good)
    ids = _ids(len(kinds))
    stream.send([_poison_value(k) for k in kinds], ids)
    stream.poison_ids.update(ids)
    stream.poison.update(POISON_KINDS[k].value for k in kinds)
    send_good(stream, good)
    return {"detail": f"{len(kinds)} poison message(s) ({', '.join(kinds)}) between {2 * good} good ones"}


@fault
def dead_letter_poison(
    broker: str = "rabbitmq", deliveries: int = 3, configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A message every consumer dies holding: ``deliveries`` consumers take it and drop their connection.

    The queue counts each in ``x-delivery-count``; the drill's runs then pass
    ``max_deliveries=deliveries``, so the next consumer dead-letters it. Run it
    while the queue holds nothing else (after a run drained it).
    """
    import pika

    stream = _stream(broker)
    if stream.broker != "rabbitmq":
        raise ChaosError("only RabbitMQ queues dead-letter", hint="broker: rabbitmq")
    ids = _ids(1)
    stream.send([order_json(ids[0])], ids)
    for _ in range(deliveries):
        conn = pika.BlockingConnection(pika.URLParameters(stream.url))
        method, _props, _body = conn.channel().basic_get(stream.name, auto_ack=False)
        if method is None:
            conn.close()
            raise ChaosError("the poison message was not in the queue", hint="run it after a run drained the queue")
        conn.close()  # dies holding it: the queue counts a delivery
    stream.poison_ids.update(ids)
    stream.dead_letters += 1
    stream.max_deliveries = deliveries
    return {"detail": f"order {ids[0]} delivered to {deliveries} consumer(s) that died holding it"}


@fault
def produce_incompatible_schema(
    broker: str = "redis",
    before: int = 40,
    incompatible: int = 10,
    after: int = 40,
    drop: str = "currency",
    configuration: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Avro orders: ``before`` of the registered schema, ``incompatible`` of a new version without ``drop``
    (registered with the subject's compatibility set to NONE), and ``after`` of the first schema again."""
    from chaos.streamschema import AvroProducer

    stream = _stream(broker, "avro")
    if stream.value_format != "avro":
        raise ChaosError(f"{stream.source} carries {stream.value_format}", hint="one value format per drill stream")
    producer = AvroProducer.for_stream(stream)
    first = producer.send_good(stream, _ids(before))
    bad = _ids(incompatible)
    second = producer.send_without(stream, bad, drop)
    stream.poison_ids.update(bad)
    stream.poison["schema_incompatible"] += incompatible
    producer.send_good(stream, _ids(after))
    return {
        "detail": f"{before} + {after} orders of schema id {first}, {incompatible} of the incompatible id {second} "
        f"(no {drop}) between them",
        "schema_ids": [first, second],
    }
