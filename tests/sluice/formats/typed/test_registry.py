"""A registry that is down, slow or refusing fails the batch with one clear error; the doctor check says so."""

from __future__ import annotations

import time

import pytest

from sluice.errors import ConfigError, SchemaRegistryUnavailable
from sluice.formats.typed import RegistryConfig, SchemaRegistry, TypedDecoder, check_registry, value_subject
from sluice.settings import RecordLimits, get_settings
from tests.sluice.formats.typed.conftest import config_for, decoder_for
from tests.sluice.formats.typed.messages import ORDER_V1, TOPIC, avro_order, avro_writer, order_columns
from tests.standins.schema_registry import SchemaRegistryStandIn


def test_a_registry_that_is_down_fails_the_batch_with_one_error_and_quarantines_nothing(
    registry, producer_client
) -> None:
    values = [avro_writer(producer_client, ORDER_V1)(avro_order(i)) for i in range(50)]
    decoder = decoder_for(registry.url, "avro")
    registry.stop()

    started = time.monotonic()
    with pytest.raises(SchemaRegistryUnavailable) as caught:
        decoder.decode(values)

    assert time.monotonic() - started < 5
    first_line, hint = str(caught.value).splitlines()
    assert f"127.0.0.1:{registry.port}" in first_line and "cannot be reached" in first_line
    assert "SLUICE_SCHEMA_REGISTRY_URL" in hint
    assert caught.value.transient

    registry.start()  # back on the same port, with its schemas
    assert len(decoder.decode(values).rows) == 50


def test_schemas_already_met_decode_while_the_registry_is_down(registry, producer_client) -> None:
    write = avro_writer(producer_client, ORDER_V1)
    decoder = decoder_for(registry.url, "avro")
    decoder.decode([write(avro_order(1))])
    registry.stop()

    batch = decoder.decode([write(avro_order(i)) for i in range(2, 12)])

    assert batch.table["order_id"].to_pylist() == list(range(2, 12))


def test_a_registry_that_does_not_answer_times_out_as_configured(registry, producer_client) -> None:
    value = avro_writer(producer_client, ORDER_V1)(avro_order(1))
    decoder = decoder_for(registry.url, "avro", timeout_seconds=0.3)
    registry.stall_seconds = 3.0

    started = time.monotonic()
    with pytest.raises(SchemaRegistryUnavailable, match="cannot be reached"):
        decoder.decode([value])

    assert time.monotonic() - started < 2.0
    registry.stall_seconds = 0.0


def test_a_registry_that_refuses_the_credentials_is_a_config_error_naming_the_setting(producer_client) -> None:
    locked = SchemaRegistryStandIn(basic_auth=("sluice", "s3cret")).start()
    try:
        with pytest.raises(ConfigError) as caught:
            decoder_for(locked.url, "avro").decode([b"\x00\x00\x00\x00\x01\x02"])
    finally:
        locked.stop()

    assert "HTTP 401" in str(caught.value)
    assert "SLUICE_SCHEMA_REGISTRY_BASIC_AUTH" in caught.value.hint


def test_the_settings_configure_the_registry_with_basic_auth(monkeypatch) -> None:
    locked = SchemaRegistryStandIn(basic_auth=("sluice", "s3cret")).start()
    monkeypatch.setenv("SLUICE_SCHEMA_REGISTRY_URL", locked.url)
    monkeypatch.setenv("SLUICE_SCHEMA_REGISTRY_BASIC_AUTH", "sluice:s3cret")
    monkeypatch.setenv("SLUICE_SCHEMA_REGISTRY_TIMEOUT_SECONDS", "3")
    try:
        from confluent_kafka.schema_registry import SchemaRegistryClient

        producer = SchemaRegistryClient({"url": locked.url, "basic.auth.user.info": "sluice:s3cret"})
        value = avro_writer(producer, ORDER_V1)(avro_order(9))
        config = RegistryConfig.from_settings(get_settings(fresh=True).registry)
        batch = TypedDecoder("avro", order_columns(), SchemaRegistry(config), limits=RecordLimits()).decode([value])
    finally:
        locked.stop()

    assert batch.table["order_id"].to_pylist() == [9]
    assert config.timeout_seconds == 3.0
    assert "s3cret" not in repr(config)


def test_an_unset_registry_url_is_a_config_error(monkeypatch) -> None:
    monkeypatch.delenv("SLUICE_SCHEMA_REGISTRY_URL", raising=False)

    with pytest.raises(ConfigError, match="SLUICE_SCHEMA_REGISTRY_URL"):
        RegistryConfig.from_settings(get_settings(fresh=True).registry)


def test_the_check_finds_the_registry_and_names_the_subjects_it_lacks(registry, producer_client) -> None:
    avro_writer(producer_client, ORDER_V1)(avro_order(1))

    found = check_registry(config_for(registry.url), [value_subject(TOPIC), value_subject("payments")])

    assert found.reachable and not found.ok
    assert found.subjects == 1
    assert found.missing == ["payments-value"]
    assert check_registry(config_for(registry.url), [value_subject(TOPIC)]).ok


def test_the_check_of_a_registry_that_is_down_is_an_answer_not_an_exception(registry) -> None:
    registry.stop()

    found = check_registry(config_for(registry.url), [value_subject(TOPIC)])

    assert not found.reachable and not found.ok
    assert "cannot be reached" in found.detail and "\n" not in found.detail


def test_urls_in_messages_never_carry_credentials() -> None:
    config = config_for("http://user:pw@127.0.0.1:1")

    found = check_registry(config)

    assert "pw" not in found.detail and found.url == "http://127.0.0.1:1"


def test_a_registry_answering_5xx_fails_the_batch_after_its_retries(registry, producer_client) -> None:
    value = avro_writer(producer_client, ORDER_V1)(avro_order(1))
    decoder = decoder_for(registry.url, "avro", retries=2, retry_wait_seconds=0.01)
    registry.failing = 503
    asked = len(registry.requests("GET", "/schemas/ids/"))

    with pytest.raises(SchemaRegistryUnavailable, match="HTTP 503"):
        decoder.decode([value])

    assert len(registry.requests("GET", "/schemas/ids/")) - asked == 3  # the first attempt and two retries
