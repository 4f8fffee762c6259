"""`ops stream status` against the mock Kafka cluster, Redis and RabbitMQ, with the lake a consumer wrote."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pika
import redis
from typer.testing import CliRunner

from ops.cli import app
from sluice.settings import Settings
from sluice.sources.streams.base import BatchLimits
from sluice.sources.streams.consume import ConsumeSpec, consume
from sluice.sources.streams.lag import StreamTarget
from sluice.sources.streams.rabbitmq import RabbitConfig
from sluice.sources.streams.sink import StreamSink
from sluice.validate.contracts import Contract
from tests.sluice.sources.streams.brokers import kafka_source, produce_kafka, produce_rabbit, produce_redis
from tests.sluice.sources.streams.conftest import (  # noqa: F401 - fixtures
    REDIS_URL,
    KafkaCluster,
    event,
    events_contract,
    kafka,
    kafka_cluster,
    rabbit_queue,
    redis_stream,
)

runner = CliRunner()


def test_kafka_status_shows_the_lake_the_group_the_end_and_the_lag_per_partition(
    kafka: tuple[str, str], events_contract: Contract, sluice_home: Settings, tmp_path: Path
) -> None:
    bootstrap, topic = kafka
    produce_kafka(bootstrap, topic, [event(i) for i in range(120)])
    sink = StreamSink(events_contract, sluice_home.lake_root(), tmp_path / "staging", str(tmp_path / "quarantine"))
    consume(
        kafka_source(bootstrap, topic, sink),
        sink,
        ConsumeSpec(BatchLimits(max_records=50, max_wait_s=0.2), follow_s=0, idle_s=1.5),
    )
    produce_kafka(bootstrap, topic, [event(i) for i in range(120, 150)])

    args = ["stream", "status", "--broker", "kafka", "--topic", topic, "--address", bootstrap, "--dataset", "events"]
    shown = runner.invoke(app, [*args, "--output", "json"])
    assert shown.exit_code == 0, shown.output
    rows = json.loads(shown.stdout)
    assert [r["partition"] for r in rows] == [f"{topic}/{p}" for p in range(3)]
    assert sum(r["lag"] for r in rows) == 30 and sum(int(r["end"]) for r in rows) == 150
    assert all(int(r["lake"]) == int(r["position"]) - 1 for r in rows if r["position"] is not None)
    table = runner.invoke(app, args)
    assert table.exit_code == 0 and topic in table.stdout
    assert max(len(line) for line in table.stdout.splitlines()) <= 80, table.stdout


def test_redis_and_rabbitmq_status(
    redis_stream: tuple[redis.Redis, str],
    rabbit_queue: tuple[pika.adapters.blocking_connection.BlockingChannel, RabbitConfig],
    sluice_home: Settings,
) -> None:
    client, key = redis_stream
    produce_redis(client, key, [event(i) for i in range(8)])
    client.xgroup_create(key, "sluice", id="0")
    client.xreadgroup("sluice", "c1", {key: ">"}, count=3)
    shown = runner.invoke(
        app, ["stream", "status", "--broker", "redis", "--topic", key, "--address", REDIS_URL, "-o", "json"]
    )
    assert shown.exit_code == 0, shown.output
    ((lag, pending, consumers),) = [(r["lag"], r["pending"], r["consumers"]) for r in json.loads(shown.stdout)]
    assert (lag, pending, consumers) == (5, 3, 1)

    _, config = rabbit_queue
    produce_rabbit(config.url, config.queue, [event(i) for i in range(4)])
    shown = runner.invoke(
        app, ["stream", "status", "--broker", "rabbitmq", "--topic", config.queue, "--address", config.url]
    )
    assert shown.exit_code == 0, shown.output
    assert config.queue in shown.stdout and " 4 " in shown.stdout


def test_no_address_is_one_line_naming_the_setting(sluice_home: Settings) -> None:
    shown = runner.invoke(app, ["stream", "status", "--broker", "redis", "--topic", "s"])
    assert shown.exit_code == 1 and "SLUICE_REDIS_URL" in shown.output and "Traceback" not in shown.output


def test_kafka_consumers_are_unknown_where_the_brokers_cannot_describe_the_group(
    kafka: tuple[str, str], events_contract: Contract, sluice_home: Settings, tmp_path: Path
) -> None:
    bootstrap, topic = kafka
    produce_kafka(bootstrap, topic, [event(i) for i in range(30)])
    sink = StreamSink(events_contract, sluice_home.lake_root(), tmp_path / "staging", str(tmp_path / "quarantine"))
    source = kafka_source(bootstrap, topic, sink)
    try:
        for _ in range(50):  # until the group assigned the partitions
            if len(source.poll(BatchLimits(max_records=10, max_wait_s=0.2))):
                break
        args = ["stream", "status", "--broker", "kafka", "--topic", topic, "--address", bootstrap, "-o", "json"]
        shown = runner.invoke(app, args)
    finally:
        source.close()
    assert shown.exit_code == 0, shown.output
    rows = json.loads(shown.stdout)
    # librdkafka's mock cluster answers DescribeGroups with "unsupported": unknown, not 0
    assert [(r["consumers"], r["members"]) for r in rows] == [(None, [])] * 3
    assert not any(r["paused"] for r in rows)


def test_status_shows_the_partitions_a_consumer_paused_for_backpressure(
    redis_stream: tuple[redis.Redis, str], events_contract: Contract, sluice_home: Settings, tmp_path: Path
) -> None:
    from ops.metrics.models import Selector
    from ops.metrics.store import open_store
    from sluice.sources.streams.buffer import BufferLimits
    from tasks.streams import StreamRecorder
    from tests.sluice.sources.streams.brokers import redis_source

    client, key = redis_stream
    produce_redis(client, key, [event(i) for i in range(200)])
    recorder = StreamRecorder.current(StreamTarget("redis", key, "sluice"))
    told: list[tuple[list[str], bool]] = []

    def paused(partitions: list[str], held: bool) -> None:
        told.append((partitions, held))
        recorder.paused(partitions, held)

    sink = StreamSink(events_contract, sluice_home.lake_root(), tmp_path / "staging", str(tmp_path / "quarantine"))
    full = BufferLimits(max_records=10, pause_after_s=0)  # paused as soon as it is full
    spec = ConsumeSpec(BatchLimits(max_records=10, max_wait_s=0.2), full, idle_s=1.0)
    outcome = consume(redis_source(REDIS_URL, key), sink, spec, on_pause=paused)
    args = ["stream", "status", "--broker", "redis", "--topic", key, "--address", REDIS_URL, "-o", "json"]

    assert outcome.pauses >= 1 and ([key], True) in told and told[-1] == ([key], False)
    store, since = open_store(home=sluice_home.home), datetime.now(timezone.utc) - timedelta(minutes=5)
    (series,) = store.query_range(Selector.parse(f'sluice_stream_partition_paused{{topic="{key}"}}'), since, now())
    assert 1.0 in series.values.tolist() and series.values[-1] == 0.0
    ((row,),) = [json.loads(runner.invoke(app, args).stdout)]
    assert row["paused"] is False and row["members"] == ["c1"]

    recorder.paused([key], True)  # a consumer paused now, its buffer full
    ((row,),) = [json.loads(runner.invoke(app, args).stdout)]
    assert row["paused"] is True
    table = runner.invoke(app, args[:-2])
    assert table.exit_code == 0 and "paused" in table.stdout
    assert max(len(line) for line in table.stdout.splitlines()) <= 80, table.stdout


def now() -> datetime:
    return datetime.now(timezone.utc)
