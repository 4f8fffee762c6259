"""A batch of typed message values into the contract's columns, and a reason for each value that cannot be read.

:class:`TypedDecoder` reads a batch in three steps: the header of every
value (size, magic byte, schema id); one registry look-up per schema id the
decoder has not met before (see :mod:`sluice.formats.typed.registry`); then
each value with confluent-kafka's deserializer for its writer's schema. The
contract's columns are taken from each record's top-level fields by name; a
column the writer's schema lacks is null, or, when the contract does not let
it be null, the message is quarantined as ``schema_incompatible``. A column
may read a nested field by its path (``address.city``, or a flattened name
such as ``address_city``; see :mod:`sluice.formats.nested`), and a list column
takes a list of scalars; a record, list or map where a scalar is wanted, or
anything but a list of one kind of scalar where a list is, quarantines the
message as ``wrong_shape``. Each column keeps the values' own Arrow type
(``long`` as int64, ``timestamp-millis`` as a UTC timestamp), typed to the
contract later by :mod:`sluice.validate.coerce`; a column whose values have
no common type (schema versions that changed a field's type) arrives as text.

A registry that is down fails the batch with ``SchemaRegistryUnavailable``
before any value is read; nothing of it is quarantined.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import pyarrow as pa

from sluice.formats.nested import ColumnPaths
from sluice.formats.typed.avro import AvroReader, AvroShape
from sluice.formats.typed.paths import ABSENT, WrongShape, typed_value
from sluice.formats.typed.protobuf import ProtobufReader, ProtobufShape
from sluice.formats.typed.registry import SchemaRegistry, asking
from sluice.formats.typed.wire import MessageReason, Refused, Rejected, excerpt, read_header
from sluice.settings import RecordLimits, get_settings
from sluice.validate.contracts import ColumnSpec, ColumnType

Shape = AvroShape | ProtobufShape


class TypedFormat(StrEnum):
    AVRO = "avro"
    PROTOBUF = "protobuf"


@dataclass
class DecodedBatch:
    """The rows decoded from a batch, each row's place in the batch, and the values that were not read."""

    table: pa.Table  # the contract's columns, in its order
    rows: np.ndarray  # int64: the batch index of each row of ``table``
    rejected: list[Rejected] = field(default_factory=list)
    schema_ids: dict[int, int] = field(default_factory=dict)  # rows decoded per writer schema id

    def reasons(self) -> dict[str, int]:
        return dict(Counter(r.reason.value for r in self.rejected))


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return json.dumps(value, default=str)


def column_of(values: list[Any]) -> pa.Array:
    """One column: the values' own Arrow type, or text when they have none in common."""
    cells = [_cell(v) for v in values]
    try:
        return pa.array(cells)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        return pa.array([None if v is None else _text(v) for v in cells], pa.string())


def list_column_of(values: list[Any]) -> pa.Array:
    """A list column: the items' own Arrow type, or text when they have none in common."""
    try:
        column = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        column = None
    if column is not None and (pa.types.is_list(column.type) or pa.types.is_null(column.type)):
        return column
    texts = [None if v is None else [None if i is None else _text(_cell(i)) for i in v] for v in values]
    return pa.array(texts, pa.list_(pa.string()))


class TypedDecoder:
    """Decodes batches of Confluent-framed Avro or Protobuf values into ``columns``.

    One decoder serves one stream and one thread: it keeps the shape of every
    schema id it has met (a registered schema never changes).
    """

    def __init__(
        self,
        kind: TypedFormat | str,
        columns: Sequence[ColumnSpec],
        registry: SchemaRegistry,
        *,
        limits: RecordLimits | None = None,
        separator: str = "_",
    ) -> None:
        self.kind = TypedFormat(kind)
        self.columns = list(columns)
        self.paths = ColumnPaths(tuple(self.columns), separator)
        self.registry = registry
        self.limits = limits or get_settings().record_limits()
        self.reader: AvroReader | ProtobufReader = (
            AvroReader(registry.client, self.limits)
            if self.kind is TypedFormat.AVRO
            else ProtobufReader(registry.client, frozenset(self.paths.heads))
        )
        self._shapes: dict[int, Shape | Refused] = {}
        self._required = {c.name for c in self.columns if not c.nullable}

    def _header(self, value: bytes | None) -> int:
        if value is None:
            raise Refused(MessageReason.NO_VALUE, "the message has no value (a tombstone)")
        if len(value) > self.limits.max_record_bytes:
            raise Refused(
                MessageReason.RECORD_TOO_LARGE,
                f"value is {len(value):,} bytes; the limit is {self.limits.max_record_bytes:,} "
                "(SLUICE_MAX_RECORD_BYTES)",
            )
        return read_header(value).schema_id

    def _resolve(self, ids: list[int]) -> dict[int, Shape | Refused]:
        """The shape of each schema id of the batch; shapes, and schemas refused as such, are kept for later batches."""
        shapes = {i: self._shapes[i] for i in ids if i in self._shapes}
        fetched = self.registry.schemas([i for i in ids if i not in self._shapes])
        for schema_id, schema in fetched.items():
            if isinstance(schema, Refused):
                shapes[schema_id] = schema  # unknown now; asked again by the next batch
                continue
            try:
                with asking(self.registry.config, f"the references of schema id {schema_id}"):
                    shapes[schema_id] = self.reader.shape(schema_id, schema)
            except Refused as refused:
                shapes[schema_id] = refused
            self._shapes[schema_id] = shapes[schema_id]
        return shapes

    def _row(self, value: bytes, shape: Shape) -> dict[str, Any]:
        record = self.reader.read(value, shape)  # type: ignore[arg-type]
        row: dict[str, Any] = {}
        for spec in self.columns:
            try:
                found = typed_value(record, spec, self.paths.candidates(spec))
            except WrongShape as exc:
                raise Refused(MessageReason.WRONG_SHAPE, f"{spec.name}: {exc}") from None
            if found is not ABSENT:
                row[spec.name] = found
        missing = sorted(self._required - row.keys())
        if missing:
            raise Refused(
                MessageReason.SCHEMA_INCOMPATIBLE,
                f"the writer's schema has no field {', '.join(missing)}, which the contract requires",
            )
        return row

    def _one(
        self, value: bytes | None, head: int | Refused, shapes: dict[int, Shape | Refused]
    ) -> dict[str, Any] | Refused:
        if isinstance(head, Refused):
            return head
        shape = shapes[head]
        if isinstance(shape, Refused):
            return shape
        try:
            return self._row(value or b"", shape)
        except Refused as refused:
            return refused

    def decode(self, values: Sequence[bytes | None]) -> DecodedBatch:
        """Rows for the values that decode, and a :class:`Rejected` for each that does not.

        Raises:
            SchemaRegistryUnavailable: the registry cannot be reached or fails; no value of the batch is read.
            ConfigError: the registry refuses the credentials.
        """
        ids: list[int | Refused] = []
        for value in values:
            try:
                ids.append(self._header(value))
            except Refused as refused:
                ids.append(refused)
        shapes = self._resolve([i for i in ids if isinstance(i, int)])
        found: list[dict[str, Any]] = []
        rows: list[int] = []
        rejected: list[Rejected] = []
        used: Counter[int] = Counter()
        with asking(self.registry.config, "a schema while decoding"):  # a reference not yet fetched
            for index, (value, head) in enumerate(zip(values, ids, strict=True)):
                outcome = self._one(value, head, shapes)
                if isinstance(outcome, Refused):
                    rejected.append(Rejected(index, outcome.reason, outcome.detail, excerpt(value)))
                    continue
                found.append(outcome)
                rows.append(index)
                if isinstance(head, int):
                    used[head] += 1
        table = pa.table(
            {
                c.name: (list_column_of if c.type is ColumnType.LIST else column_of)([r.get(c.name) for r in found])
                for c in self.columns
            }
        )
        return DecodedBatch(table, np.asarray(rows, dtype=np.int64), rejected, dict(used))
