"""The Confluent wire format, and why a message could not be read.

A framed value is the magic byte 0, the schema id as 4 bytes big-endian,
then, for Protobuf, the message-index array (zigzag varints: a count, then
the path of the message type in its file; a lone 0 means the first message),
then the Avro binary or Protobuf encoding of the record. :func:`read_header`
reads the first two parts before any deserializer runs, so a batch's schema
ids are known, and looked up, once per batch. :class:`Framing` is the hook
through which confluent-kafka's deserializers read the header, keeping the
stream so that a failure can say whether the payload ran out.
"""

from __future__ import annotations

import base64
import io
import struct
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from confluent_kafka.schema_registry import dual_schema_id_deserializer
from confluent_kafka.serialization import SerializationContext

MAGIC = 0
HEADER_BYTES = 5
EXCERPT_BYTES = 1024


class MessageReason(StrEnum):
    """Why a typed message is quarantined instead of becoming a row."""

    NO_VALUE = "no_value"  # a tombstone: the message has a key and no value
    RECORD_TOO_LARGE = "record_too_large"
    PAYLOAD_TRUNCATED = "payload_truncated"
    PAYLOAD_CORRUPT = "payload_corrupt"
    SCHEMA_UNKNOWN = "schema_unknown"
    SCHEMA_INCOMPATIBLE = "schema_incompatible"
    TOO_DEEPLY_NESTED = "too_deeply_nested"
    WRONG_SHAPE = "wrong_shape"  # a record, list or map where the contract wants a scalar, or the reverse


@dataclass(frozen=True)
class Rejected:
    """A message that did not become a row: its place in the batch, why, and its first bytes in base64."""

    index: int
    reason: MessageReason
    detail: str
    excerpt: str


class Refused(Exception):
    """One message cannot be read; the batch goes on."""

    def __init__(self, reason: MessageReason, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def excerpt(raw: bytes | None) -> str:
    return base64.b64encode((raw or b"")[:EXCERPT_BYTES]).decode("ascii")


@dataclass(frozen=True)
class Header:
    schema_id: int


def read_header(value: bytes) -> Header:
    """The schema id of a framed value.

    Raises:
        Refused: the value is shorter than the header, or does not start with the magic byte 0.
    """
    if not value:
        raise Refused(MessageReason.PAYLOAD_TRUNCATED, "the value is empty")
    if value[0] != MAGIC:
        raise Refused(
            MessageReason.PAYLOAD_CORRUPT,
            f"the first byte is {value[0]:#04x}, not the magic byte 0 of the Confluent wire format",
        )
    if len(value) < HEADER_BYTES:
        raise Refused(MessageReason.PAYLOAD_TRUNCATED, f"{len(value)} bytes end inside the 5-byte header")
    return Header(struct.unpack_from(">I", value, 1)[0])


def _varint(data: bytes, at: int) -> tuple[int, int] | None:
    """The unsigned varint at ``at`` and the offset after it; None: the data ends inside it."""
    value = shift = 0
    while at < len(data):
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if not byte & 0x80:
            return value, at
        shift += 7
    return None


def protobuf_ends_early(payload: bytes) -> bool:
    """Whether the top-level fields of a Protobuf encoding run past its end.

    A cut anywhere inside a message cuts its last top-level field, whose tag,
    varint, fixed width or length then points past the end. A payload this
    says is not cut, but which does not parse, is corrupt.
    """
    at = 0
    while at < len(payload):
        tag = _varint(payload, at)
        if tag is None:
            return True
        key, at = tag
        wire = key & 7
        if wire == 0:
            value = _varint(payload, at)
            if value is None:
                return True
            at = value[1]
        elif wire in (1, 5):
            at += 8 if wire == 1 else 4
        elif wire == 2:
            length = _varint(payload, at)
            if length is None:
                return True
            at = length[1] + length[0]
        else:  # groups (3, 4) and invalid wire types: not a question of length
            return False
        if at > len(payload):
            return True
    return False


def _zigzag(data: bytes, at: int, what: str) -> tuple[int, int]:
    found = _varint(data, at)
    if found is None:
        raise Refused(MessageReason.PAYLOAD_TRUNCATED, f"the value ends inside its {what}")
    raw, after = found
    return (raw >> 1) ^ -(raw & 1), after


def read_message_indexes(value: bytes, at: int = HEADER_BYTES) -> tuple[tuple[int, ...], int]:
    """The Protobuf message-index path after the header, and the offset of the payload after it.

    Raises:
        Refused: the array is cut short, or its count or an index is negative or implausibly large.
    """
    count, at = _zigzag(value, at, "message-index array")
    if count == 0:
        return (0,), at
    if count < 0 or count > len(value):
        raise Refused(MessageReason.PAYLOAD_CORRUPT, f"the message-index array claims {count} entries")
    path = []
    for _ in range(count):
        index, at = _zigzag(value, at, "message-index array")
        if index < 0:
            raise Refused(MessageReason.PAYLOAD_CORRUPT, f"message index {index} is negative")
        path.append(index)
    return tuple(path), at


class Framing:
    """The deserializers' ``schema.id.deserializer``: confluent's own, keeping the stream it hands on.

    After a failure, the stream says whether the reader ran out of bytes
    (truncated) or stopped inside them (corrupt), and after a success whether
    bytes were left over.
    """

    def __init__(self) -> None:
        self.stream = io.BytesIO()
        self.start = 0

    def __call__(self, data: bytes, ctx: SerializationContext | None, schema_id: Any) -> io.BytesIO:
        stream: io.BytesIO = dual_schema_id_deserializer(data, ctx, schema_id)
        self.stream, self.start = stream, stream.tell()
        return stream

    def left(self) -> int:
        return len(self.stream.getbuffer()) - self.stream.tell()
