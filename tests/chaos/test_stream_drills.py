"""The stream drills against the local staging stack and the real brokers (RabbitMQ, Redis; Kafka: librdkafka's
mock cluster in a process of its own, the process the Kafka broker drill freezes) and, for the Avro drills, the
schema registry stand-in: each drill passes, its fault went in, and the lake holds each produced message exactly once
(the drill's own conservation verdict, and this test's own count of the lake against what the drill produced)."""

from __future__ import annotations

import itertools
import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from chaos import drill as drills
from chaos.runner import run_drill
from sluice.settings import Settings, get_settings
from tests.sluice.sources.streams.mock_cluster import running
from tests.standins.schema_registry import SchemaRegistryStandIn

pytestmark = [pytest.mark.integration, pytest.mark.serial]
REDIS_URL = os.environ.get("SLUICE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RABBIT_URL = os.environ.get("SLUICE_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
# drill -> the method steps that inject its faults, and what each step's output says
DRILLS = {
    "broker-unreachable-mid-batch": {
        "cut-rabbitmq-3s-mid-run": "rabbitmq cut mid-stream",
        "cut-redis-3s-mid-run": "redis cut mid-stream",
    },
    "stream-consumer-killed-mid-batch": {
        "kill-the-rabbitmq-consumer-mid-run": "SIGKILLed the consumer",
        "kill-the-redis-consumer-mid-run": "SIGKILLed the consumer",
    },
    "stream-poison-message": {
        "a-message-every-consumer-dies-holding": "died holding it",
        "poison-the-rabbitmq-queue": "2 poison message(s)",
        "poison-the-redis-stream": "2 poison message(s)",
    },
    "stream-incompatible-schema": {"publish-an-incompatible-schema-mid-stream": "of the incompatible id"},
    "kafka-broker-frozen-mid-batch": {"freeze-kafka-3s-mid-run": "kafka froze (SIGSTOP of pid"},
    "kafka-consumer-killed-mid-batch": {"kill-the-kafka-consumer-mid-run": "SIGKILLed the consumer"},
    "kafka-poison-message": {"poison-the-kafka-topic": "2 poison message(s)"},
    "kafka-incompatible-schema": {"publish-an-incompatible-schema-mid-stream": "of the incompatible id"},
}


FROZEN_PRODUCED = 800  # kafka-broker-frozen-mid-batch's produce-to-kafka


@pytest.fixture()
def stream_stack(staging_stack: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The staging stack with the brokers and a schema registry (stand-in) configured as an environment would."""
    registry = SchemaRegistryStandIn().start()
    monkeypatch.setenv("SLUICE_REDIS_URL", REDIS_URL)
    monkeypatch.setenv("SLUICE_RABBITMQ_URL", RABBIT_URL)
    monkeypatch.setenv("SLUICE_SCHEMA_REGISTRY_URL", registry.url)
    yield get_settings(fresh=True)
    registry.stop()


@pytest.fixture()
def kafka_broker(stream_stack: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """A mock Kafka cluster of the test's own, configured as an environment's brokers; its process id."""
    with running() as (bootstrap, pid):
        monkeypatch.setenv("SLUICE_KAFKA_BOOTSTRAP_SERVERS", bootstrap)
        monkeypatch.setenv("SLUICE_CHAOS_KAFKA_BROKER_PIDS", f"[{pid}]")
        get_settings(fresh=True)
        yield pid


def step_output(journal: dict[str, Any], name: str, key: str = "detail") -> Any:
    (step,) = [r for r in journal["run"] if r["activity"]["name"] == name]
    assert step["status"] == "succeeded", step
    return step["output"][key] if key != "detail" else str(step["output"]["detail"])


def offsets_in(commits: list[dict[str, Any]]) -> int:
    """How many offsets the commits' ranges hold, over every partition."""
    return sum(int(c["to"][part]) - int(first) + 1 for c in commits for part, first in c["from"].items())


def assert_kafka_commits_record_disjoint_offset_ranges(commits: list[dict[str, Any]]) -> None:
    """Every commit records an offset range per partition of the topic; no offset is in two commits' ranges."""
    assert len(commits) > 1
    spans: dict[str, list[tuple[int, int]]] = {}
    for commit in commits:
        topic = str(commit["source"]).removeprefix("kafka:")
        assert commit["from"] and set(commit["from"]) == set(commit["to"])
        for part, first in commit["from"].items():
            assert part.startswith(f"{topic}/")
            spans.setdefault(part, []).append((int(first), int(commit["to"][part])))
    for part, found in spans.items():
        found.sort()
        assert all(a[1] < b[0] for a, b in itertools.pairwise(found)), (part, found)


@pytest.fixture()
def judged(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What the lake held against what the drill produced, read just before the drill's stack is taken down."""
    seen: dict[str, Any] = {}
    end = drills.end

    def keep(drill: drills.Drill) -> None:
        if drill.has_stack and drill.stack.streams:
            from chaos.streamparity import lake_ids, stream_commits

            seen["lake"] = lake_ids(drill.stack)
            seen["commits"] = {s.source: stream_commits(drill.stack, s.source) for s in drill.stack.streams.values()}
            seen["produced"] = [i for s in drill.stack.streams.values() for i in s.produced]
            seen["poison"] = {i for s in drill.stack.streams.values() for i in s.poison_ids}
        end(drill)

    monkeypatch.setattr(drills, "end", keep)
    return seen


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", list(DRILLS))
def test_the_stream_drill_passes_and_the_lake_holds_each_produced_message_once(
    name: str, stream_stack: Settings, judged: dict[str, Any], request: pytest.FixtureRequest
) -> None:
    if name.startswith("kafka-"):
        request.getfixturevalue("kafka_broker")

    result = run_drill(name, "staging")

    for step, said in DRILLS[name].items():
        assert said in step_output(result.journal, step)
    (conservation,) = [v for v in result.verdicts if v["kind"] == "conservation"]
    assert conservation["held"] and "once" in conservation["detail"], conservation["detail"]
    lake: Counter[int] = judged["lake"]
    assert judged["produced"] and sorted(lake) == sorted(judged["produced"])
    assert max(lake.values()) == 1
    assert not judged["poison"] & set(lake)
    if name.startswith("kafka-"):
        (commits,) = judged["commits"].values()
        assert_kafka_commits_record_disjoint_offset_ranges(commits)
    if name == "kafka-broker-frozen-mid-batch":  # the freeze landed mid-stream, and the run under it rode it out
        # The run had batches left to commit when the broker froze. Its consumer may hold the rest of a small
        # topic already (read ahead into its buffer), so it need not wait for the thaw.
        at_freeze = step_output(result.journal, "freeze-kafka-3s-mid-run", "commits_at_freeze")
        assert 0 < offsets_in(commits[:at_freeze]) < FROZEN_PRODUCED
        assert step_output(result.journal, "ingest-kafka-under-fault", "rows_read") > offsets_in(commits[:at_freeze])
    runs = [f"{r['activity']['name']}: {r['output'].get('detail')}" for r in result.journal["run"] if r.get("output")]
    assert result.passed, f"{result.summary}; steps: {runs}"
