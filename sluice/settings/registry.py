"""The schema registry: where typed (Avro, Protobuf) stream messages find their schemas, and how hard to ask."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from sluice.settings.sources import PREFIX, Section


class RegistrySettings(Section):
    """The Confluent Schema Registry read by :mod:`sluice.formats.typed`."""

    env_prefix = PREFIX
    title = "Schema registry"

    schema_registry_url: str | None = Field(
        default=None,
        description=(
            "Base URL of the Schema Registry, `https://registry.example:8081`; several, comma-separated, are tried in "
            "turn. Unset: typed (Avro, Protobuf) messages cannot be decoded."
        ),
    )
    schema_registry_basic_auth: SecretStr | None = Field(
        default=None,
        description="HTTP basic auth for the registry as `user:password` (an API key and its secret). Never logged.",
    )
    schema_registry_ca_file: Path | None = Field(
        default=None,
        description="PEM file of the CA that signed the registry's certificate, when it is not a public one.",
    )
    schema_registry_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="Seconds one request to the registry may take (connecting and reading) before it fails.",
    )
    schema_registry_retries: int = Field(
        default=2,
        ge=0,
        le=10,
        description=(
            "Further attempts at a request that failed to connect or got a 429 or 5xx, with jittered backoff; then "
            "the batch fails with `SchemaRegistryUnavailable`."
        ),
    )
    schema_registry_retry_wait_seconds: float = Field(
        default=0.5,
        ge=0,
        description="Seconds before the first retry of a registry request; each further retry may wait twice as long.",
    )
