"""Protobuf values through confluent-kafka's ``ProtobufDeserializer``, each as the message type it was written as.

The writer's schema (a serialized ``FileDescriptorProto``, with its imports
registered as references) is built into a descriptor pool once per schema
id; the message-index path of each value picks the message type, and one
deserializer per (schema id, path) parses it. A value becomes a row of its
top-level fields: scalars as they are, enums by name, ``Timestamp`` as a UTC
time, wrapper types as their value, nested messages and maps as dicts (their
JSON mapping) and repeated fields as lists. A field without presence (a proto3 scalar not marked
``optional``) reads as its default when the writer left it unset, as
Protobuf defines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timezone
from typing import Any

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.common.protobuf import _init_pool, _str_to_proto
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer
from confluent_kafka.serialization import SerializationError
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FileDescriptor
from google.protobuf.descriptor_pool import DescriptorPool
from google.protobuf.message import DecodeError, Message
from google.protobuf.message_factory import GetMessageClass

from sluice.formats.typed.wire import Framing, MessageReason, Refused, protobuf_ends_early, read_message_indexes

_WRAPPERS = {
    f"google.protobuf.{n}Value"
    for n in ("Double", "Float", "Int64", "UInt64", "Int32", "UInt32", "Bool", "String", "Bytes")
}


@dataclass
class ProtobufShape:
    """A writer schema built into a pool; the message types of its paths are found as values name them."""

    schema_id: int
    file: FileDescriptor
    types: dict[tuple[int, ...], Descriptor] = field(default_factory=dict)

    def message_type(self, path: tuple[int, ...]) -> Descriptor:
        """The message type at ``path`` (top-level index, then nested indexes).

        Raises:
            Refused: no message type sits at ``path``.
        """
        if path not in self.types:
            found: Any = self.file
            for depth, index in enumerate(path):
                choices = found.message_types_by_name if depth == 0 else found.nested_types_by_name
                kinds = list(choices.values())
                if index >= len(kinds):
                    raise Refused(
                        MessageReason.PAYLOAD_CORRUPT,
                        f"message index path {list(path)} names no message type of schema id {self.schema_id}",
                    )
                found = kinds[index]
            self.types[path] = found
        return self.types[path]


def _add_references(schema: Schema, client: SchemaRegistryClient, pool: DescriptorPool, seen: set[str]) -> None:
    for ref in schema.references or []:
        if ref.name is None or ref.name in seen or ref.subject is None or ref.version is None:
            continue
        seen.add(ref.name)
        referenced = client.get_version(ref.subject, ref.version, True, "serialized").schema
        _add_references(referenced, client, pool, seen)
        pool.Add(_str_to_proto(ref.name, referenced.schema_str or ""))


def protobuf_shape(schema_id: int, schema: Schema, client: SchemaRegistryClient) -> ProtobufShape:
    """The writer schema of ``schema_id`` built into its own descriptor pool.

    Raises:
        Refused: the schema is not Protobuf, or does not build.
    """
    if schema.schema_type != "PROTOBUF":
        raise Refused(
            MessageReason.SCHEMA_INCOMPATIBLE,
            f"schema id {schema_id} is {schema.schema_type or 'AVRO'}, and this source is Protobuf",
        )
    pool = DescriptorPool()
    _init_pool(pool)
    try:
        _add_references(schema, client, pool, set())
        proto = _str_to_proto(f"sluice-schema-{schema_id}.proto", schema.schema_str or "")
        pool.Add(proto)
        file = pool.FindFileByName(proto.name)
    except (SerializationError, TypeError, KeyError, ValueError) as exc:
        raise Refused(
            MessageReason.SCHEMA_INCOMPATIBLE, f"schema id {schema_id} is not a usable Protobuf schema: {exc}"
        ) from None
    if not file.message_types_by_name:
        raise Refused(MessageReason.SCHEMA_INCOMPATIBLE, f"schema id {schema_id} declares no message type")
    return ProtobufShape(schema_id, file)


def _one(fd: Any, value: Any) -> Any:
    """A singular field's value (``fd`` is a ``FieldDescriptor``, of the pure-Python or the upb flavour)."""
    if fd.enum_type is not None:
        known = fd.enum_type.values_by_number.get(value)
        return known.name if known is not None else value
    if fd.message_type is None:
        return value
    name = fd.message_type.full_name
    if name == "google.protobuf.Timestamp":
        return value.ToDatetime(tzinfo=timezone.utc)
    if name in _WRAPPERS:
        return value.value
    return json_format.MessageToDict(value, preserving_proto_field_name=True)


_MAP, _LIST, _OPTIONAL, _SINGLE = range(4)


def field_plan(kind: Descriptor, wanted: frozenset[str]) -> list[tuple[Any, int]]:
    """The fields of ``kind`` named in ``wanted``, each with how its value is read."""
    plan = []
    for fd in kind.fields:
        if fd.name not in wanted:
            continue
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            plan.append((fd, _MAP))
        elif fd.is_repeated:
            plan.append((fd, _LIST))
        else:
            plan.append((fd, _OPTIONAL if fd.has_presence else _SINGLE))
    return plan


def message_row(message: Message, plan: list[tuple[Any, int]]) -> dict[str, Any]:
    """The fields of ``plan`` as values a column takes (see the module's docstring)."""
    row: dict[str, Any] = {}
    for fd, how in plan:
        value = getattr(message, fd.name)
        if how == _MAP:
            entry = fd.message_type.fields_by_name["value"]
            row[fd.name] = {str(k): _plain(entry, v) for k, v in value.items()}
        elif how == _LIST:
            row[fd.name] = [_plain(fd, v) for v in value]
        elif how == _OPTIONAL and not message.HasField(fd.name):
            row[fd.name] = None
        else:
            row[fd.name] = _one(fd, value)
    return row


def _plain(fd: Any, value: Any) -> Any:
    """An element of a list or map as JSON takes it."""
    if fd.message_type is not None:
        return json_format.MessageToDict(value, preserving_proto_field_name=True)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return _one(fd, value)


class ProtobufReader:
    """Protobuf messages from framed values, each read as the type its writer named."""

    schema_type = "PROTOBUF"

    def __init__(self, client: SchemaRegistryClient, wanted: frozenset[str]) -> None:
        self.client, self.wanted = client, wanted
        self.framing = Framing()
        self._deserializers: dict[tuple[int, tuple[int, ...]], ProtobufDeserializer] = {}
        self._plans: dict[tuple[int, tuple[int, ...]], list[tuple[Any, int]]] = {}

    def shape(self, schema_id: int, schema: Schema) -> ProtobufShape:
        return protobuf_shape(schema_id, schema, self.client)

    def _deserializer(self, shape: ProtobufShape, path: tuple[int, ...]) -> ProtobufDeserializer:
        key = (shape.schema_id, path)
        if key not in self._deserializers:
            kind = GetMessageClass(shape.message_type(path))
            self._deserializers[key] = ProtobufDeserializer(
                kind, {"schema.id.deserializer": self.framing}, schema_registry_client=self.client
            )
            self._plans[key] = field_plan(shape.message_type(path), self.wanted)
        return self._deserializers[key]

    def read(self, value: bytes, shape: ProtobufShape) -> dict[str, Any]:
        """The wanted top-level fields of a framed value written with ``shape``'s schema.

        Raises:
            Refused: the message-index path or the payload is truncated or corrupt.
        """
        path, start = read_message_indexes(value)
        deserializer = self._deserializer(shape, path)
        try:
            message = deserializer(value, None)
        except (SerializationError, DecodeError, EOFError, ValueError) as exc:
            if protobuf_ends_early(value[start:]):
                raise Refused(
                    MessageReason.PAYLOAD_TRUNCATED, f"the payload ends inside a field ({len(value)} bytes)"
                ) from None
            raise Refused(
                MessageReason.PAYLOAD_CORRUPT, f"not a {shape.message_type(path).full_name} ({exc})"
            ) from None
        if not isinstance(message, Message):
            raise Refused(MessageReason.PAYLOAD_CORRUPT, "the deserializer returned no message")
        return message_row(message, self._plans[(shape.schema_id, path)])
