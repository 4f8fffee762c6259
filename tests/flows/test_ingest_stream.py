"""The ``ingest-stream`` flow: a Redis stream or RabbitMQ queue into the lake, counts that add up."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
import redis
from confluent_kafka.schema_registry import SchemaRegistryClient

from flows.ingest_stream import ingest_stream
from ops.metrics.models import Selector
from ops.metrics.store import open_store
from ops.metrics.streams import STREAM_LATENCY_SECONDS
from sluice.errors import ConfigError
from sluice.runs.metastore import engine_for, list_runs
from sluice.settings import get_settings
from sluice.sources.streams.rabbitmq import RabbitConfig
from tests.sluice.formats.typed.messages import avro_writer
from tests.sluice.sources.streams.brokers import lake_ids, produce_rabbit, produce_redis, queue_ready
from tests.sluice.sources.streams.conftest import EVENTS, REDIS_URL, event, rabbit_queue, redis_stream  # noqa: F401
from tests.standins.schema_registry import SchemaRegistryStandIn

pytestmark = pytest.mark.integration


def test_a_run_until_idle_commits_valid_messages_quarantines_the_rest_and_adds_up(
    prefect_api, events_home, redis_stream: tuple[redis.Redis, str]
) -> None:
    client, stream = redis_stream
    values = [event(i) for i in range(50)] + [b"not json", event(50, kind="refund"), event(3)]
    produce_redis(client, stream, values)
    args = {"dataset": "events", "broker": "redis", "topic": stream, "address": REDIS_URL, "idle_seconds": 1.0}

    first = ingest_stream(**args, max_records=20)
    produce_redis(client, stream, [event(i) for i in range(60, 70)])
    second = ingest_stream(**args)

    assert (first.status, first.rows_read, first.rows_written) == ("completed", 53, 50)
    assert (first.rows_quarantined, first.rows_duplicate) == (2, 1)  # id 3 twice: the key keeps one
    assert len(first.files) == 3
    assert (second.rows_read, second.rows_written, second.rows_quarantined) == (10, 10, 0)
    assert sorted(lake_ids(Path(get_settings().lake_root()).parent)) == [*range(50), *range(60, 70)]
    with engine_for(get_settings().metadata_db_url()).connect() as conn:
        recorded = {r.run_id: r for r in list_runs(conn, dataset="events")}
    assert recorded[first.run_id].rows_quarantined == 2 and recorded[second.run_id].status == "completed"
    assert int(client.xpending(stream, "sluice")["pending"]) == 0
    since = datetime(2000, 1, 1, tzinfo=timezone.utc)
    selector = Selector.parse(f'{STREAM_LATENCY_SECONDS}{{topic="{stream}"}}')
    latency = open_store(home=get_settings().home).query_range(selector, since, datetime.now(timezone.utc))
    assert {s.labels["quantile"]: len(s.values) for s in latency} == {"0.5": 4, "0.99": 4}  # one point a batch
    assert all(s.labels["dataset"] == "events" and (s.values > 0).all() for s in latency)


def test_a_rabbitmq_queue_from_the_configured_url_lands_once_and_is_emptied(
    prefect_api, events_home, monkeypatch, rabbit_queue: tuple[object, RabbitConfig]
) -> None:
    channel, config = rabbit_queue
    monkeypatch.setenv("SLUICE_RABBITMQ_URL", config.url)
    get_settings(fresh=True)
    produce_rabbit(
        config.url, config.queue, [event(i) for i in range(40)] + [b"not json"], [f"m{i}" for i in range(41)]
    )
    report = ingest_stream("events", "rabbitmq", config.queue, idle_seconds=1.0, max_records=15)
    assert (report.status, report.rows_read, report.rows_written, report.rows_quarantined) == ("completed", 41, 40, 1)
    assert report.source == f"rabbitmq:{config.queue}"
    assert sorted(lake_ids(Path(get_settings().lake_root()).parent)) == list(range(40))
    again = ingest_stream("events", "rabbitmq", config.queue, idle_seconds=0.5)
    assert again.rows_read == 0
    assert queue_ready(channel, config.queue) == 0  # type: ignore[arg-type]


def test_a_missing_address_fails_with_what_to_set(prefect_api, events_home, monkeypatch) -> None:
    monkeypatch.delenv("SLUICE_REDIS_URL", raising=False)
    with pytest.raises(ConfigError, match="SLUICE_REDIS_URL"):
        ingest_stream("events", "redis", "nowhere")


def test_an_unknown_value_format_fails_with_the_formats_it_reads(prefect_api, events_home) -> None:
    with pytest.raises(ConfigError, match="json, avro, protobuf"):
        ingest_stream("events", "redis", "nowhere", address=REDIS_URL, value_format="xml")


EVENT_AVRO = {
    "type": "record",
    "name": "Event",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "kind", "type": "string"},
        {"name": "amount", "type": ["null", "double"], "default": None},
    ],
}


def test_avro_values_are_read_through_the_configured_registry(
    prefect_api, events_home, monkeypatch, redis_stream: tuple[redis.Redis, str]
) -> None:
    client, stream = redis_stream
    standin = SchemaRegistryStandIn().start()
    try:
        write = avro_writer(SchemaRegistryClient({"url": standin.url}), EVENT_AVRO, stream)
        at = datetime(2024, 3, 5, 10, 0, tzinfo=timezone.utc)
        values = [write({"id": i, "at": at, "kind": "view", "amount": None}) for i in range(40)]
        produce_redis(client, stream, [*values, b"\x00\x00\x00"])
        monkeypatch.setenv("SLUICE_SCHEMA_REGISTRY_URL", standin.url)
        get_settings(fresh=True)
        args = {"broker": "redis", "topic": stream, "address": REDIS_URL, "idle_seconds": 1.0}
        report = ingest_stream("events", **args, value_format="avro")
    finally:
        standin.stop()

    assert (report.rows_read, report.rows_written, report.rows_quarantined) == (41, 40, 1)
    assert sorted(lake_ids(Path(get_settings().lake_root()).parent)) == list(range(40))


def test_a_protected_column_of_a_stream_lands_as_tokens_and_no_e_mail_reaches_the_disk(
    prefect_api, sluice_home, tmp_path, monkeypatch, redis_stream: tuple[redis.Redis, str]
) -> None:
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq
    from deltalake import DeltaTable

    from sluice.governance.keyring import new_keyring, write_keyring_file
    from sluice.governance.tokens import tokenise

    contracts = tmp_path / "contracts"
    contracts.mkdir()
    protected = EVENTS + "  - {name: email, type: string, pii: email, protect: token, nullable: true}\n"
    (contracts / "events.yaml").write_text(protected, encoding="utf-8")
    keyring = new_keyring("test")
    write_keyring_file(tmp_path / "token-keys.json", keyring)
    monkeypatch.setenv("SLUICE_CONTRACTS_DIR", str(contracts))
    monkeypatch.setenv("SLUICE_PROTECT_TOKEN_KEYS_FILE", str(tmp_path / "token-keys.json"))
    home = get_settings(fresh=True).home
    client, stream = redis_stream
    emails = [f"stream.person{i}@example.org" for i in range(30)]
    values = [json.dumps({**json.loads(event(i)), "email": emails[i]}).encode() for i in range(30)]
    bad = json.dumps({**json.loads(event(99, kind="refund")), "email": "bad.person@example.org"}).encode()
    produce_redis(client, stream, [*values, bad])

    report = ingest_stream("events", "redis", stream, address=REDIS_URL, idle_seconds=1.0)

    assert (report.status, report.rows_written, report.rows_quarantined) == ("completed", 30, 1)
    stored = DeltaTable(str(Path(get_settings().lake_root()) / "events")).to_pyarrow_table()
    by_id = dict(zip(stored.column("id").to_pylist(), stored.column("email").to_pylist(), strict=True))
    tokens = tokenise(pa.array(emails), keyring).to_pylist()
    assert by_id == dict(enumerate(tokens))  # the join key analysts see: the same token the files path writes
    for path in (p for p in Path(home).rglob("*") if p.is_file()):
        data = path.read_bytes()
        assert b"@example.org" not in data, path  # no e-mail in the lake, the quarantine, staging or the stores
        if path.suffix == ".parquet":  # compressed pages hide bytes: read the values back too
            assert "@example.org" not in str(pq.read_table(path).to_pylist()), path


def test_a_verify_block_is_refused_before_a_message_is_consumed(
    prefect_api, events_home, redis_stream: tuple[redis.Redis, str]
) -> None:
    from ops.incidents.db import open_engine, store_url, transaction
    from ops.incidents.service import ensure_incident, list_incidents
    from sluice.errors import ContractError

    client, stream = redis_stream
    contract = get_settings().contracts_root() / "events.yaml"
    contract.write_text(EVENTS + "verify:\n  quarantine_spike: true\n  min_runs: 3\n", encoding="utf-8")
    produce_redis(client, stream, [event(i) for i in range(10)])
    args = {"dataset": "events", "broker": "redis", "topic": stream, "address": REDIS_URL, "idle_seconds": 1.0}

    with pytest.raises(ContractError, match="ingest-stream cannot verify and roll back its commits"):
        ingest_stream(**args)

    with transaction(open_engine(store_url(get_settings().home))) as session:
        (incident,) = [ensure_incident(session, i.id) for i in list_incidents(session)]
    assert incident.runbook_id == "invalid-contract-or-config" and "ContractError" in incident.signature
    contract.write_text(EVENTS, encoding="utf-8")
    after = ingest_stream(**args)
    assert (after.rows_read, after.rows_written) == (10, 10)  # the refused run consumed nothing
