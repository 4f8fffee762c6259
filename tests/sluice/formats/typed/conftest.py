"""A Schema Registry stand-in per test module, and clients and decoders pointed at it."""

from __future__ import annotations

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient

from sluice.formats.typed import RegistryConfig, SchemaRegistry, TypedDecoder
from sluice.settings import RecordLimits
from tests.sluice.formats.typed.messages import order_columns
from tests.standins.schema_registry import SchemaRegistryStandIn


@pytest.fixture()
def registry():
    standin = SchemaRegistryStandIn().start()
    try:
        yield standin
    finally:
        standin.stop()


@pytest.fixture()
def producer_client(registry) -> SchemaRegistryClient:
    """The producers' own client: what it caches is not the decoder's."""
    return SchemaRegistryClient({"url": registry.url})


def config_for(url: str, **changes) -> RegistryConfig:
    quick = {"timeout_seconds": 2.0, "retries": 0, "retry_wait_seconds": 0.05}
    return RegistryConfig(url=url, **{**quick, **changes})


def decoder_for(url: str, kind: str, *, columns=None, limits: RecordLimits | None = None, **changes) -> TypedDecoder:
    return TypedDecoder(
        kind,
        columns if columns is not None else order_columns(),
        SchemaRegistry(config_for(url, **changes)),
        limits=limits or RecordLimits(),
    )
