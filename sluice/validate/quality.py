"""Reason codes and the failure-case table shared by parsing and validation."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import pyarrow as pa


class Reason(StrEnum):
    """Machine-readable reasons a row is quarantined or a value is counted."""

    MALFORMED_ROW = "malformed_row"
    MALFORMED_JSON = "malformed_json"
    UNDECODABLE_BYTES = "undecodable_bytes"
    RECORD_TOO_LARGE = "record_too_large"
    TOO_DEEPLY_NESTED = "too_deeply_nested"
    FIELD_TOO_LARGE = "field_too_large"
    MISSING_COLUMN = "missing_column"
    UNPARSEABLE_INT = "unparseable_int"
    UNPARSEABLE_FLOAT = "unparseable_float"
    UNPARSEABLE_BOOL = "unparseable_bool"
    UNPARSEABLE_TIMESTAMP = "unparseable_timestamp"
    UNPARSEABLE_DATE = "unparseable_date"
    AMBIGUOUS_LOCAL_TIME = "ambiguous_local_time"
    NULL_VALUE = "null_value"
    NOT_ALLOWED = "not_allowed_value"
    OUT_OF_RANGE = "out_of_range"
    PATTERN_MISMATCH = "pattern_mismatch"
    TOO_LONG = "too_long"
    WRONG_TYPE = "wrong_type"
    WRONG_SHAPE = "wrong_shape"  # a nested value where a scalar is expected, or the reverse
    TRUNCATED_PRECISION = "truncated_to_microseconds"
    CHECK_FAILED = "check_failed"
    PARENT_QUARANTINED = "parent_quarantined"  # a child row of an exploded array whose parent row was quarantined
    ORPHAN_REFERENCE = "orphan_reference"  # a foreign key the referenced dataset does not hold (references:)
    # Typed (Avro, Protobuf) stream messages: sluice.formats.typed.
    NO_VALUE = "no_value"
    PAYLOAD_TRUNCATED = "payload_truncated"
    PAYLOAD_CORRUPT = "payload_corrupt"
    SCHEMA_UNKNOWN = "schema_unknown"
    SCHEMA_INCOMPATIBLE = "schema_incompatible"


FAILURE_SCHEMA = pa.schema(
    [
        ("row", pa.int64()),
        ("column", pa.string()),
        ("reason", pa.string()),
        ("check", pa.string()),
        ("value", pa.string()),
        ("critical", pa.bool_()),
    ]
)


@dataclass
class FailureLog:
    """Collects failure cases for one chunk, vectorised per column and check."""

    parts: list[pa.Table] = field(default_factory=list)

    def add(
        self,
        rows: np.ndarray,
        *,
        column: str,
        reason: Reason,
        check: str,
        values: pa.Array | list[str | None] | None,
        critical: bool,
    ) -> None:
        n = len(rows)
        if n == 0:
            return
        if values is None:
            vals = pa.nulls(n, pa.string())
        elif isinstance(values, list):
            vals = pa.array(values, pa.string())
        else:
            vals = values.cast(pa.string()) if values.type != pa.string() else values
        self.parts.append(
            pa.table(
                {
                    "row": pa.array(np.asarray(rows, dtype=np.int64)),
                    "column": pa.array(np.full(n, column, dtype=object), pa.string()),
                    "reason": pa.array(np.full(n, reason.value, dtype=object), pa.string()),
                    "check": pa.array(np.full(n, check, dtype=object), pa.string()),
                    "value": vals,
                    "critical": pa.array(np.full(n, critical)),
                },
                schema=FAILURE_SCHEMA,
            )
        )

    def extend(self, other: FailureLog) -> None:
        self.parts.extend(other.parts)

    def table(self) -> pa.Table:
        if not self.parts:
            return FAILURE_SCHEMA.empty_table()
        return pa.concat_tables(self.parts)
