"""Typed stream messages: Avro and Protobuf in the Confluent wire format, with schemas from a schema registry.

:class:`TypedDecoder` turns a batch of message values into the contract's
columns (an Arrow table) and a :class:`Rejected` entry, with a
:class:`MessageReason`, for each value it cannot read. :func:`check_registry`
says whether the configured registry answers and holds the subjects wanted.
"""

from sluice.formats.typed.decode import DecodedBatch, TypedDecoder, TypedFormat, column_of
from sluice.formats.typed.registry import (
    MAX_UNKNOWN_LOOKUPS,
    RegistryCheck,
    RegistryConfig,
    SchemaRegistry,
    check_registry,
    value_subject,
)
from sluice.formats.typed.wire import MessageReason, Rejected

__all__ = [
    "MAX_UNKNOWN_LOOKUPS",
    "DecodedBatch",
    "MessageReason",
    "RegistryCheck",
    "RegistryConfig",
    "Rejected",
    "SchemaRegistry",
    "TypedDecoder",
    "TypedFormat",
    "check_registry",
    "column_of",
    "value_subject",
]
