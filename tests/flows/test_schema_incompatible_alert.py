"""A stream message whose schema the contract cannot read is quarantined and rings the schema-incompatible rule."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import redis
from confluent_kafka.schema_registry import SchemaRegistryClient

from flows.alerts_evaluate import alerts_evaluate
from flows.ingest_stream import ingest_stream
from ops.metrics.models import Selector
from ops.metrics.store import open_store
from sluice.settings import get_settings
from tests.flows.test_ingest_stream import EVENT_AVRO
from tests.sluice.formats.typed.messages import avro_writer
from tests.sluice.sources.streams.brokers import produce_redis
from tests.sluice.sources.streams.conftest import REDIS_URL, redis_stream  # noqa: F401 - the fixture
from tests.standins.schema_registry import SchemaRegistryStandIn

pytestmark = pytest.mark.integration
# a later version without `kind`, which the events contract requires
WITHOUT_KIND = {**EVENT_AVRO, "fields": [f for f in EVENT_AVRO["fields"] if f["name"] != "kind"]}


def test_a_quarantined_schema_incompatible_message_fires_the_rule_with_its_runbook(
    prefect_api, events_home, monkeypatch, redis_stream: tuple[redis.Redis, str]
) -> None:
    client, stream = redis_stream
    standin = SchemaRegistryStandIn().start()
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    try:
        registry = SchemaRegistryClient({"url": standin.url})
        at = datetime(2024, 3, 5, 10, 0, tzinfo=timezone.utc)
        v1, v2 = avro_writer(registry, EVENT_AVRO, stream), avro_writer(registry, WITHOUT_KIND, stream)
        values = [v1({"id": i, "at": at, "kind": "view", "amount": None}) for i in range(5)]
        values += [v2({"id": i, "at": at, "amount": 1.0}) for i in range(5, 7)]
        produce_redis(client, stream, values)
        monkeypatch.setenv("SLUICE_SCHEMA_REGISTRY_URL", standin.url)
        get_settings(fresh=True)
        report = ingest_stream("events", "redis", stream, address=REDIS_URL, idle_seconds=1.0, value_format="avro")
    finally:
        standin.stop()

    assert (report.rows_written, report.rows_quarantined) == (5, 2)
    store = open_store(home=get_settings().home)
    selector = Selector.parse('sluice_rows_quarantined_by_reason{dataset="events"}')
    (series,) = store.query_range(selector, before, datetime.now(timezone.utc))
    assert series.labels["reason"] == "schema_incompatible" and series.values.sum() == 2

    summary = alerts_evaluate()

    assert "schema-incompatible" in summary.firing_rules
    events = (get_settings().home / "alerts" / "events.jsonl").read_text()
    assert '"rule_id": "schema-incompatible"' in events and '"runbook": "schema-incompatible"' in events


def test_a_stream_without_quarantined_messages_leaves_the_rule_quiet(
    prefect_api, events_home, redis_stream: tuple[redis.Redis, str]
) -> None:
    from tests.sluice.sources.streams.conftest import event

    client, stream = redis_stream
    produce_redis(client, stream, [event(i) for i in range(5)])
    ingest_stream("events", "redis", stream, address=REDIS_URL, idle_seconds=1.0)

    assert "schema-incompatible" not in alerts_evaluate().firing_rules
