"""Avro and Protobuf message values (Confluent wire format) as a stream :class:`~sluice.sources.streams.decode.Decoder`.

:class:`TypedValues` hands a batch's values to :class:`sluice.formats.typed.TypedDecoder`
(schemas from the registry, each value read with the schema it was written
with) and returns its rows as a raw chunk: typed columns, which
:func:`sluice.validate.chunk.validate_chunk` checks like any other, and one
quarantine entry, with its reason, per value that could not be read. A
registry that cannot be reached fails the batch (nothing is committed or
acknowledged), it never quarantines the messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from sluice.formats import MalformedRow, RawChunk
from sluice.formats.typed.decode import TypedDecoder, TypedFormat
from sluice.formats.typed.registry import SchemaRegistry
from sluice.sources.streams.base import Message, values_of
from sluice.validate.contracts import Contract
from sluice.validate.quality import Reason

VALUE_FORMATS = ("json", "avro", "protobuf")


@dataclass
class TypedValues:
    """Reads Avro or Protobuf values; one instance per stream (it keeps the schemas it has met)."""

    kind: TypedFormat
    registry: SchemaRegistry
    _decoders: dict[str, TypedDecoder] = field(default_factory=dict, init=False)

    def _decoder(self, contract: Contract) -> TypedDecoder:
        if contract.name not in self._decoders:
            self._decoders[contract.name] = TypedDecoder(self.kind, contract.columns, self.registry)
        return self._decoders[contract.name]

    def decode(self, messages: Sequence[Message], contract: Contract) -> RawChunk:
        out = self._decoder(contract).decode(values_of(messages))
        malformed = [MalformedRow(r.index, r.excerpt, Reason(r.reason.value), r.detail) for r in out.rejected]
        return RawChunk(out.table, np.asarray(out.rows, dtype=np.int64), malformed)
