"""Avro values through confluent-kafka's ``AvroDeserializer``, each with the schema it was written with.

Before a schema's first message, its shape is checked once: it must be a
record, and two shapes whose cost a payload (not the schema) decides are
guarded. An array whose items can take no bytes (``null``, an empty record)
lets a block count alone demand any number of items: such a schema is
refused. A recursive schema (a record that holds itself, a linked list or a
tree) lets a payload nest as deep as it has bytes, and fastavro's compiled
reader recurses on the C stack: each message of such a schema is first read
by fastavro's pure-Python reader, which stops at Python's recursion limit, and
is quarantined as ``too_deeply_nested`` past ``max_nesting_depth``.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import fastavro
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import SerializationError
from fastavro import _read_py

from sluice.formats.typed.wire import HEADER_BYTES, Framing, MessageReason, Refused
from sluice.settings import RecordLimits

_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
# What fastavro raises on bytes that are not the encoding its schema describes.
DECODE_ERRORS = (
    EOFError,
    IndexError,
    KeyError,
    ValueError,
    TypeError,
    OverflowError,
    struct.error,
    SerializationError,
)


@dataclass(frozen=True)
class AvroShape:
    parsed: Any  # fastavro's parsed writer schema
    recursive: bool


def _named_types(schema: Schema, client: SchemaRegistryClient, named: dict[str, Any], seen: set[str]) -> None:
    """The named types of ``schema``'s references, depth first, each reference parsed once."""
    for ref in schema.references or []:
        key = f"{ref.subject}/{ref.version}"
        if key in seen or ref.subject is None or ref.version is None:
            continue
        seen.add(key)
        referenced = client.get_version(ref.subject, ref.version, True).schema
        _named_types(referenced, client, named, seen)
        fastavro.parse_schema(json.loads(referenced.schema_str or "null"), named_schemas=named)


def _children(node: Any) -> Iterator[Any]:
    if isinstance(node, list):
        yield from node
    elif isinstance(node, dict):
        kind = node.get("type")
        if kind == "record":
            yield from (f["type"] for f in node.get("fields", []))
        elif kind == "array":
            yield node["items"]
        elif kind == "map":
            yield node["values"]
        elif isinstance(kind, dict | list):
            yield kind


def _takes_no_bytes(node: Any, named: dict[str, Any], seen: frozenset[str] = frozenset()) -> bool:
    """Whether a value of ``node`` can be encoded in zero bytes."""
    if isinstance(node, str):
        if node == "null":
            return True
        if node in _PRIMITIVES or node in seen or node not in named:
            return False
        return _takes_no_bytes(named[node], named, seen | {node})
    if isinstance(node, dict):
        kind = node.get("type")
        if kind == "record":
            return all(_takes_no_bytes(f["type"], named, seen) for f in node.get("fields", []))
        if kind == "fixed":
            return int(node.get("size", 1)) == 0
        if kind in ("array", "map", "enum"):
            return False
        return _takes_no_bytes(kind, named, seen)
    return False  # a union: its branch index takes a byte


def _guard(node: Any, named: dict[str, Any], enclosing: tuple[str, ...], found: list[str], seen: set[str]) -> bool:
    """Whether ``node`` recurses (names an enclosing record); arrays of items that take no bytes go to ``found``.

    A named type met by name is walked once, where it is first met.
    """
    if isinstance(node, str):
        if node in enclosing:
            return True
        if node in _PRIMITIVES or node in seen:
            return False
        if node not in named:
            return True  # a name the schema does not define: assume the worst
        seen.add(node)
        return _guard(named[node], named, enclosing, found, seen)
    if isinstance(node, dict) and node.get("type") == "array" and _takes_no_bytes(node["items"], named):
        found.append(json.dumps(node["items"])[:80])
    if isinstance(node, dict) and node.get("type") in ("record", "enum", "fixed"):
        seen.add(node["name"])
    inner = enclosing + ((node["name"],) if isinstance(node, dict) and node.get("type") == "record" else ())
    recursive = False
    for child in _children(node):
        recursive = _guard(child, named, inner, found, seen) or recursive
    return recursive


def avro_shape(schema_id: int, schema: Schema, client: SchemaRegistryClient) -> AvroShape:
    """The checked shape of a writer schema.

    Raises:
        Refused: the schema is not Avro, does not parse, is not a record, or has an array of items that take no bytes.
    """
    if (schema.schema_type or "AVRO") != "AVRO":
        raise Refused(
            MessageReason.SCHEMA_INCOMPATIBLE, f"schema id {schema_id} is {schema.schema_type}, and this source is Avro"
        )
    named: dict[str, Any] = {}
    try:
        _named_types(schema, client, named, set())
        parsed = fastavro.parse_schema(json.loads(schema.schema_str or "null"), named_schemas=named)
    except (ValueError, TypeError, KeyError, fastavro.schema.SchemaParseException, fastavro.schema.UnknownType) as exc:
        raise Refused(
            MessageReason.SCHEMA_INCOMPATIBLE, f"schema id {schema_id} is not a usable Avro schema: {exc}"
        ) from None
    if not isinstance(parsed, dict) or parsed.get("type") != "record":
        raise Refused(MessageReason.SCHEMA_INCOMPATIBLE, f"schema id {schema_id} is not an Avro record")
    unbounded: list[str] = []
    recursive = _guard(parsed, named, (), unbounded, set())
    if unbounded:
        raise Refused(
            MessageReason.SCHEMA_INCOMPATIBLE,
            f"schema id {schema_id} has an array of {unbounded[0]}, whose items take no bytes: a block count alone "
            "could make it any length, so Sluice does not read it",
        )
    return AvroShape(parsed, recursive)


def nesting_depth(value: object) -> int:
    """How deep dicts and lists nest in a decoded value (a flat record is 1), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in node)
    return deepest


class AvroReader:
    """Avro records from framed values, each read with its writer's schema."""

    schema_type = "AVRO"

    def __init__(self, client: SchemaRegistryClient, limits: RecordLimits) -> None:
        self.client, self.limits = client, limits
        self.framing = Framing()
        self.deserializer = AvroDeserializer(client, conf={"schema.id.deserializer": self.framing})

    def shape(self, schema_id: int, schema: Schema) -> AvroShape:
        return avro_shape(schema_id, schema, self.client)

    def _depth_first(self, value: bytes, shape: AvroShape) -> None:
        try:
            record = _read_py.schemaless_reader(io.BytesIO(value[HEADER_BYTES:]), shape.parsed, None)
        except RecursionError:
            record = None
            depth_text = "deeper than Python's recursion limit"
        except DECODE_ERRORS:
            return  # the deserializer says what is wrong with it
        else:
            depth = nesting_depth(record)
            if depth <= self.limits.max_nesting_depth:
                return
            depth_text = f"{depth} levels deep"
        raise Refused(
            MessageReason.TOO_DEEPLY_NESTED,
            f"nested {depth_text}; the limit is {self.limits.max_nesting_depth} (SLUICE_MAX_NESTING_DEPTH)",
        )

    def read(self, value: bytes, shape: AvroShape) -> dict[str, Any]:
        """The record of a framed value whose schema has ``shape``.

        Raises:
            Refused: the payload is truncated, corrupt, or nested too deep.
        """
        if len(value) <= HEADER_BYTES:
            raise Refused(MessageReason.PAYLOAD_TRUNCATED, "the value ends with its 5-byte header")
        if shape.recursive:
            self._depth_first(value, shape)
        try:
            record = self.deserializer(value, None)
        except DECODE_ERRORS as exc:
            ran_out = isinstance(exc, EOFError) or (isinstance(exc, IndexError) and self.framing.left() == 0)
            if ran_out:
                raise Refused(
                    MessageReason.PAYLOAD_TRUNCATED,
                    f"the payload ends inside its record ({len(value)} bytes in all)",
                ) from None
            raise Refused(
                MessageReason.PAYLOAD_CORRUPT, f"not the record its schema describes ({type(exc).__name__}: {exc})"
            ) from None
        left = self.framing.left()
        if left:
            raise Refused(MessageReason.PAYLOAD_CORRUPT, f"{left} bytes are left after the record its schema describes")
        if not isinstance(record, dict):
            raise Refused(MessageReason.SCHEMA_INCOMPATIBLE, f"decoded a {type(record).__name__}, not a record")
        return record
