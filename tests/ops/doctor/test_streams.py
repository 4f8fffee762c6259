"""The stream checks of ``ops doctor`` against a real Redis, librdkafka's mock cluster and the registry stand-in."""

from __future__ import annotations

from pydantic import SecretStr

from ops.doctor.models import Status
from ops.doctor.streams import check_kafka, check_rabbitmq, check_redis, check_schema_registry, check_streams
from sluice.settings import RegistrySettings, StreamSettings
from tests.pgcluster import free_port
from tests.sluice.sources.streams.conftest import RABBIT_URL, REDIS_URL, KafkaCluster, kafka_cluster  # noqa: F401
from tests.standins.schema_registry import SchemaRegistryStandIn


def test_nothing_configured_checks_nothing() -> None:
    assert check_streams(StreamSettings(), RegistrySettings()) == []


def test_a_live_redis_passes_and_a_closed_port_fails_in_one_line() -> None:
    assert check_redis(REDIS_URL).status is Status.OK
    closed = check_redis(f"redis://:secret-pw@127.0.0.1:{free_port()}/0", timeout=1)
    assert closed.status is Status.FAIL and "SLUICE_REDIS_URL" in closed.hint
    assert "secret-pw" not in closed.detail and "\n" not in closed.detail


def test_the_mock_kafka_cluster_passes_and_a_closed_port_fails(kafka_cluster: KafkaCluster) -> None:
    found = check_kafka(kafka_cluster.bootstrap)
    assert found.status is Status.OK and "broker(s)" in found.detail
    closed = check_kafka(f"127.0.0.1:{free_port()}", timeout=1)
    assert closed.status is Status.FAIL and "SLUICE_KAFKA_BOOTSTRAP_SERVERS" in closed.hint


def test_the_registry_check_answers_up_and_down() -> None:
    standin = SchemaRegistryStandIn().start()
    try:
        settings = RegistrySettings(schema_registry_url=standin.url, schema_registry_retries=0)
        assert check_schema_registry(settings).status is Status.OK
    finally:
        standin.stop()
    down = check_schema_registry(settings)
    assert down.status is Status.FAIL and "SLUICE_SCHEMA_REGISTRY_URL" in down.hint


def test_configured_endpoints_are_each_checked() -> None:
    streams = StreamSettings(redis_url=SecretStr(REDIS_URL))
    assert [r.name for r in check_streams(streams, RegistrySettings())] == ["Redis"]


def test_a_live_rabbitmq_passes_and_wrong_credentials_or_a_closed_port_fail_in_one_line() -> None:
    found = check_rabbitmq(RABBIT_URL)
    assert found.status is Status.OK and "answers" in found.detail
    refused = check_rabbitmq("amqp://guest:wrong-pw@127.0.0.1:5672/%2F", timeout=2)
    assert refused.status is Status.FAIL and "credentials" in refused.detail
    closed = check_rabbitmq(f"amqp://u:secret-pw@127.0.0.1:{free_port()}/%2F", timeout=1)
    assert closed.status is Status.FAIL and "SLUICE_RABBITMQ_URL" in closed.hint
    for result in (refused, closed):
        assert "wrong-pw" not in result.detail and "secret-pw" not in result.detail and "\n" not in result.detail
    streams = StreamSettings(rabbitmq_url=SecretStr(RABBIT_URL))
    assert [r.name for r in check_streams(streams, RegistrySettings())] == ["RabbitMQ"]
