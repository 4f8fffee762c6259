"""The stream checks of ``ops doctor``: the configured Kafka brokers, Redis, RabbitMQ and schema registry answer.

Each is checked only when its setting is present (``SLUICE_KAFKA_BOOTSTRAP_SERVERS``,
``SLUICE_REDIS_URL``, ``SLUICE_RABBITMQ_URL``, ``SLUICE_SCHEMA_REGISTRY_URL``); one line each, with
what to do in its hint, never a password. Every check gives up after
``TIMEOUT_S`` seconds.
"""

from __future__ import annotations

from collections.abc import Mapping

from ops.doctor.models import CheckResult
from sluice.errors import ConfigError
from sluice.formats.typed.registry import RegistryConfig, check_registry
from sluice.settings import RegistrySettings, StreamSettings

TIMEOUT_S = 3.0


def check_kafka(
    bootstrap: str, *, timeout: float = TIMEOUT_S, options: Mapping[str, str | int | float | bool] | None = None
) -> CheckResult:
    """The brokers answer a metadata request (their count and the topics they hold), with ``options`` (TLS, SASL)."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    name = "Kafka"
    admin = AdminClient({**(options or {}), "bootstrap.servers": bootstrap, "socket.timeout.ms": int(timeout * 1000)})
    try:
        meta = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        return CheckResult.fail(
            name,
            f"{bootstrap} did not answer within {timeout:g} s: {exc.args[0] if exc.args else exc}",
            "check SLUICE_KAFKA_BOOTSTRAP_SERVERS and that the brokers are reachable from this host",
        )
    topics = [t for t in meta.topics if not t.startswith("__")]
    return CheckResult.ok(name, f"{bootstrap}: {len(meta.brokers)} broker(s), {len(topics)} topic(s)")


def check_redis(url: str, *, timeout: float = TIMEOUT_S) -> CheckResult:
    """The Redis server answers PING with the URL's credentials."""
    import redis

    name = "Redis"
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    shown = client.connection_pool.connection_kwargs
    where = f"redis://{shown.get('host', '?')}:{shown.get('port', '?')}/{shown.get('db', 0)}"
    try:
        client.ping()
    except redis.AuthenticationError:
        return CheckResult.fail(name, f"{where} refused the credentials", "fix the password in SLUICE_REDIS_URL")
    except redis.RedisError as exc:
        return CheckResult.fail(
            name, f"{where} did not answer: {exc}", "check SLUICE_REDIS_URL and that Redis is up and reachable"
        )
    finally:
        client.close()
    return CheckResult.ok(name, f"{where} answers")


def check_rabbitmq(url: str, *, timeout: float = TIMEOUT_S) -> CheckResult:
    """The RabbitMQ broker accepts a connection with the URL's credentials."""
    import pika

    name = "RabbitMQ"
    try:
        params = pika.URLParameters(url)
    except ValueError as exc:
        return CheckResult.fail(name, f"the URL is not valid: {exc}", "fix SLUICE_RABBITMQ_URL (amqp://USER:PW@host)")
    params.socket_timeout = params.blocked_connection_timeout = timeout
    params.connection_attempts, params.retry_delay = 1, 0
    where = f"amqp://{params.host}:{params.port}"
    try:
        conn = pika.BlockingConnection(params)
    except pika.exceptions.ProbableAuthenticationError:
        return CheckResult.fail(
            name, f"{where} refused the credentials", "fix the user or password in SLUICE_RABBITMQ_URL"
        )
    except pika.exceptions.AMQPError as exc:
        return CheckResult.fail(
            name, f"{where} did not answer: {type(exc).__name__}", "check SLUICE_RABBITMQ_URL and that RabbitMQ is up"
        )
    conn.close()
    return CheckResult.ok(name, f"{where} answers")


def check_schema_registry(settings: RegistrySettings) -> CheckResult:
    """The schema registry answers its subject list."""
    name = "Schema registry"
    try:
        config = RegistryConfig.from_settings(settings)
    except ConfigError as exc:
        return CheckResult.fail(name, str(exc), exc.hint or "fix SLUICE_SCHEMA_REGISTRY_URL")
    found = check_registry(config)
    if not found.ok:
        return CheckResult.fail(
            name, f"{found.url}: {found.detail}", "check SLUICE_SCHEMA_REGISTRY_URL, its credentials and the network"
        )
    return CheckResult.ok(name, f"{found.url}: {found.detail}")


def check_streams(streams: StreamSettings, registry: RegistrySettings) -> list[CheckResult]:
    """Every configured stream endpoint; none configured: nothing to check."""
    results: list[CheckResult] = []
    if streams.kafka_bootstrap_servers:
        results.append(check_kafka(streams.kafka_bootstrap_servers, options=streams.kafka_client_options()))
    if streams.redis_url is not None:
        results.append(check_redis(streams.redis_url.get_secret_value()))
    if streams.rabbitmq_url is not None:
        results.append(check_rabbitmq(streams.rabbitmq_url.get_secret_value()))
    if registry.schema_registry_url:
        results.append(check_schema_registry(registry))
    return results
