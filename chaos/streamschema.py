"""Avro orders through the schema registry for the stream drills: the registered schema, and an incompatible one.

The registry is the environment's (``SLUICE_SCHEMA_REGISTRY_URL``); values
are framed in the Confluent wire format by confluent-kafka's
``AvroSerializer``, which registers each schema under ``<stream>-value``. An
incompatible version is registered the way a producer team forces one in:
the subject's compatibility is set to ``NONE`` first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chaos.streams import order_record
from ops.errors import ChaosError
from sluice.settings import get_settings

if TYPE_CHECKING:
    from chaos.streams import DrillStream

_OPTIONAL_STRING: list[Any] = ["null", "string"]
_MILLIS = {"type": "long", "logicalType": "timestamp-millis"}
ORDER_SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "Order",
    "namespace": "drill",
    "fields": [
        {"name": "order_id", "type": "long"},
        {"name": "customer_id", "type": "string"},
        {"name": "order_ts", "type": _MILLIS},
        {"name": "status", "type": "string"},
        {"name": "amount", "type": "double"},
        {"name": "currency", "type": "string"},
        {"name": "quantity", "type": "long"},
        {"name": "discount", "type": ["null", "double"], "default": None},
        {"name": "channel", "type": _OPTIONAL_STRING, "default": None},
        {"name": "country", "type": "string"},
        {"name": "email", "type": _OPTIONAL_STRING, "default": None},
        {"name": "updated_at", "type": ["null", _MILLIS], "default": None},
    ],
}


def registry_url() -> str:
    """The environment's schema registry.

    Raises:
        ChaosError: ``SLUICE_SCHEMA_REGISTRY_URL`` is unset.
    """
    url = get_settings().registry.schema_registry_url
    if not url:
        raise ChaosError(
            "the schema drill needs a schema registry, and SLUICE_SCHEMA_REGISTRY_URL is unset",
            hint="point SLUICE_SCHEMA_REGISTRY_URL at the registry the stream's producers use",
        )
    return url


def without(schema: dict[str, Any], field_name: str) -> dict[str, Any]:
    """``schema`` without the field ``field_name``: a version readers that require the field cannot read."""
    fields = [f for f in schema["fields"] if f["name"] != field_name]
    if len(fields) == len(schema["fields"]):
        raise ChaosError(f"the order schema has no field {field_name!r}", hint="drop a field of the order schema")
    return {**schema, "fields": fields}


@dataclass
class AvroProducer:
    """Frames orders for one stream with the registered schema, or with an incompatible version of it."""

    url: str
    subject: str
    client: Any

    @classmethod
    def for_stream(cls, stream: DrillStream) -> AvroProducer:
        from confluent_kafka.schema_registry import SchemaRegistryClient

        url = registry_url()
        return cls(url, f"{stream.name}-value", SchemaRegistryClient({"url": url}))

    def _send(self, stream: DrillStream, schema: dict[str, Any], ids: list[int]) -> int:
        from confluent_kafka.schema_registry.avro import AvroSerializer
        from confluent_kafka.serialization import MessageField, SerializationContext

        serializer = AvroSerializer(self.client, json.dumps(schema))
        context = SerializationContext(stream.name, MessageField.VALUE)
        names = {f["name"] for f in schema["fields"]}
        values = []
        for order_id in ids:
            record = {k: v for k, v in order_record(order_id).items() if k in names}
            framed = serializer(record, context)
            if framed is None:
                raise ChaosError(f"the serializer framed nothing for order {order_id}")
            values.append(framed)
        stream.send(values, ids)
        return int.from_bytes(values[0][1:5], "big")

    def send_good(self, stream: DrillStream, ids: list[int]) -> int:
        """Orders of the registered schema, remembered as produced; the schema id."""
        schema_id = self._send(stream, ORDER_SCHEMA, ids)
        stream.produced.extend(ids)
        return schema_id

    def send_without(self, stream: DrillStream, ids: list[int], field_name: str) -> int:
        """Orders of a new version without ``field_name``, registered with compatibility NONE; its schema id."""
        import httpx

        answer = httpx.put(f"{self.url}/config/{self.subject}", json={"compatibility": "NONE"}, timeout=10)
        if answer.status_code >= 300:
            raise ChaosError(f"the registry refused compatibility NONE for {self.subject}: {answer.text[:200]}")
        return self._send(stream, without(ORDER_SCHEMA, field_name), ids)
