"""Factories of typed messages: order schemas in Avro and Protobuf, framed by confluent-kafka's real serializers."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2, descriptor_pool, timestamp_pb2
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from sluice.validate.contracts import ColumnSpec, ColumnType

TOPIC = "orders"
AT = datetime(2024, 3, 5, 10, 0, tzinfo=timezone.utc)

ORDER_V1: dict[str, Any] = {
    "type": "record",
    "name": "Order",
    "namespace": "shop",
    "fields": [
        {"name": "order_id", "type": "long"},
        {"name": "customer_id", "type": "string"},
        {"name": "order_ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "amount", "type": "double"},
        {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["placed", "paid", "shipped"]}},
        {
            "name": "address",
            "type": {"type": "record", "name": "Address", "fields": [{"name": "city", "type": "string"}]},
        },
    ],
}
# v2 adds an optional field, as a backward-compatible evolution does.
ORDER_V2: dict[str, Any] = {
    **ORDER_V1,
    "fields": [*ORDER_V1["fields"], {"name": "discount", "type": ["null", "double"], "default": None}],
}


def order_columns(*, discount_nullable: bool = True) -> list[ColumnSpec]:
    """The contract's side: the columns a typed orders stream fills."""
    return [
        ColumnSpec(name="order_id", type=ColumnType.INT64),
        ColumnSpec(name="customer_id", type=ColumnType.STRING),
        ColumnSpec(name="order_ts", type=ColumnType.TIMESTAMP),
        ColumnSpec(name="amount", type=ColumnType.FLOAT64),
        ColumnSpec(name="status", type=ColumnType.STRING),
        ColumnSpec(name="address_city", type=ColumnType.STRING, nullable=True),  # address.city, flattened
        ColumnSpec(name="discount", type=ColumnType.FLOAT64, nullable=discount_nullable),
    ]


def avro_order(order_id: int, **changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "order_id": order_id,
        "customer_id": f"C{order_id:06d}",
        "order_ts": AT,
        "amount": 19.5 + order_id,
        "status": "paid",
        "address": {"city": "Berlin"},
    }
    return {**record, **changes}


def context(topic: str = TOPIC) -> SerializationContext:
    return SerializationContext(topic, MessageField.VALUE)


def avro_writer(client: SchemaRegistryClient, schema: dict[str, Any], topic: str = TOPIC) -> Callable[..., bytes]:
    """A function framing a record with confluent-kafka's AvroSerializer (registering ``schema`` on first use)."""
    serializer = AvroSerializer(client, json.dumps(schema))

    def write(record: dict[str, Any]) -> bytes:
        framed = serializer(record, context(topic))
        assert framed is not None
        return framed

    return write


_F = descriptor_pb2.FieldDescriptorProto


def order_proto(*, version: int = 1, package: str = "shop") -> descriptor_pb2.FileDescriptorProto:
    """``orders.proto``: a Note message first, then Order (so an Order's message index is [1]), Order.Line nested.

    Version 2 adds ``optional double discount = 9``.
    """
    file = descriptor_pb2.FileDescriptorProto(name=f"orders_v{version}.proto", package=package, syntax="proto3")
    file.dependency.append("google/protobuf/timestamp.proto")
    note = file.message_type.add(name="Note")
    note.field.add(name="text", number=1, type=_F.TYPE_STRING, label=_F.LABEL_OPTIONAL)
    order = file.message_type.add(name="Order")
    status = order.enum_type.add(name="Status")
    for number, name in enumerate(["PLACED", "PAID", "SHIPPED"]):
        status.value.add(name=name, number=number)
    line = order.nested_type.add(name="Line")
    line.field.add(name="sku", number=1, type=_F.TYPE_STRING, label=_F.LABEL_OPTIONAL)
    line.field.add(name="quantity", number=2, type=_F.TYPE_INT32, label=_F.LABEL_OPTIONAL)
    fields = [
        ("order_id", 1, _F.TYPE_INT64, ""),
        ("customer_id", 2, _F.TYPE_STRING, ""),
        ("order_ts", 3, _F.TYPE_MESSAGE, ".google.protobuf.Timestamp"),
        ("amount", 4, _F.TYPE_DOUBLE, ""),
        ("status", 5, _F.TYPE_ENUM, f".{package}.Order.Status"),
    ]
    for name, number, kind, type_name in fields:
        added = order.field.add(name=name, number=number, type=kind, label=_F.LABEL_OPTIONAL)
        if type_name:
            added.type_name = type_name
    order.field.add(
        name="lines", number=6, type=_F.TYPE_MESSAGE, type_name=f".{package}.Order.Line", label=_F.LABEL_REPEATED
    )
    if version >= 2:
        order.oneof_decl.add(name="_discount")
        order.field.add(
            name="discount", number=9, type=_F.TYPE_DOUBLE, label=_F.LABEL_OPTIONAL, proto3_optional=True, oneof_index=0
        )
    return file


def message_classes(file: descriptor_pb2.FileDescriptorProto) -> dict[str, type[Message]]:
    """Message classes built at run time from ``file`` (no generated ``_pb2`` module, nothing downloaded)."""
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(timestamp_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(file)
    names = ["Note", "Order", "Order.Line"]
    return {n: GetMessageClass(pool.FindMessageTypeByName(f"{file.package}.{n}")) for n in names}


def proto_order(classes: dict[str, type[Message]], order_id: int, **changes: Any) -> Message:
    order = classes["Order"](
        order_id=order_id, customer_id=f"C{order_id:06d}", amount=19.5 + order_id, status=1, **changes
    )
    order.order_ts.FromDatetime(AT)  # type: ignore[attr-defined]
    order.lines.add(sku="A-1", quantity=2)  # type: ignore[attr-defined]
    return order


def protobuf_writer(
    client: SchemaRegistryClient, kind: type[Message], topic: str = TOPIC
) -> Callable[[Message], bytes]:
    serializer = ProtobufSerializer(kind, client, {"use.deprecated.format": False})

    def write(message: Message) -> bytes:
        framed = serializer(message, context(topic))
        assert framed is not None
        return framed

    return write
