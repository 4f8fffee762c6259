"""A batch read by Arrow with the contract's types validates to exactly what reading each message alone gives."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pyarrow as pa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sluice.settings import RecordLimits
from sluice.sources.streams.base import Message, Offset
from sluice.sources.streams.decode import JsonDecoder
from sluice.sources.streams.flat import typed_read, typed_schema
from sluice.sources.streams.sink import decode_valid
from sluice.validate.chunk import BatchContext, ChunkResult, validate_chunk
from sluice.validate.contracts import parse_contract

LIMITS = RecordLimits(max_record_bytes=3_000, max_nesting_depth=8, max_field_bytes=1_000)
CTX = BatchContext("typed", "run-1", "batch-1", "kafka:typed", date(2024, 3, 5))
CONTRACT = parse_contract(
    """
name: typed
owner: tests@sluice.example
freshness_sla: 1d
primary_key: [id]
partition: {column: at}
columns:
  - {name: id, type: int64, min: 0}
  - {name: at, type: timestamp}
  - {name: kind, type: string, allowed_values: [click, view, buy]}
  - {name: amount, type: float64, nullable: true}
  - {name: paid, type: bool, nullable: true}
  - {name: note, type: string, nullable: true, max_length: 8, criticality: warning}
  - {name: source, type: string, nullable: true}
"""
)

good = {
    "id": st.integers(0, 10**6),
    "at": st.sampled_from(["2024-03-05T10:00:00Z", "2024-03-05 11:30:00+01:00", "2024-03-05"]),
    "kind": st.sampled_from(["click", "view", "buy"]),
    "amount": st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False), st.integers(-(10**6), 10**6)),
    "paid": st.one_of(st.none(), st.booleans()),
    "note": st.one_of(st.none(), st.text(max_size=6)),
}
odd_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),  # past int64 and past 18 digits
    st.floats(),  # NaN and infinities: Python writes NaN and Infinity
    st.text(max_size=12),
    st.sampled_from(["5", "1.5", "true", "", " 7 ", "kind", "2024-13-01", "x" * 1_200]),  # numbers as strings, huge
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.sampled_from(["a", "b"]), st.integers(), max_size=2),
)


@st.composite
def record(draw: st.DrawFn) -> dict[str, object]:
    """A valid record, now and then with a field of another type or shape, missing, or an extra field."""
    found: dict[str, object] = {k: draw(v) for k, v in good.items()}
    for name in draw(st.lists(st.sampled_from([*good, "extra", "source"]), max_size=2)):
        if draw(st.booleans()):
            found[name] = draw(odd_values)
        else:
            found.pop(name, None)
    return found


def _text(found: dict[str, object], compact: bool) -> bytes:
    return json.dumps(found, ensure_ascii=compact, separators=(",", ":") if compact else None).encode()


hostile = st.sampled_from(
    [
        b'{"id": 1, "id": 2, "at": "2024-03-05", "kind": "buy"}',  # duplicate key
        b'{"id": 1, "at": "2024-03-05", "kind": "buy", "id": "1"}',
        b'{"id": 1, "at": "2024-03-05", "kind": "buy"',  # truncated
        b'{"id": 1, "at": "2024-03-05", "kind": "buy",}',
        b'{"id": 1, "at": "2024-03-05", "kind": "\xff\xfe"}',  # not UTF-8
        b'{"id": 1, "at": "2024-03-05", "kind": "bu\ny"}',  # a line break in a string
        b'{"id": 1,\n"at": "2024-03-05", "kind": "buy"}',  # a line break between fields
        b'{"id": 1, "at": "2024-03-05", "kind": "buy"}\r',
        b'{"id": 1, "at": "2024-03-05", "kind": "buy", "x": {"y": [[[[[[[[[1]]]]]]]]]}}',  # nested too deep
        b'{"id": 1, "at": "2024-03-05", "kind": "buy", "x": NaN}',
        b'{"id": 1, "at": "2024-03-05", "kind": "buy", "amount": -Infinity}',
        b'{"id": 1000000000000000000, "at": "2024-03-05", "kind": "buy"}',  # 19 digits
        b'{"id": 1.0, "at": "2024-03-05", "kind": "buy"}',
        b'{"id": 1e3, "at": "2024-03-05", "kind": "buy"}',
        b'{"id": 1, "at": "2024-03-05", "kind": "buy", "note": "tab\there"}',  # a raw control character
        b'{"id": 1, "at": "2024-03-05", "kind": "buy", "note": "\\ud800"}',  # a lone surrogate
        b'{"id": 1, "at": "2024-03-05", "kind": "buy", "amount": 1.5e400}',
        b'{"id": 1, "at": "2024-03-05", "kind": "buy", "amount": 1e-400}',
        b'{"id": 1, "at": "2024-03-05", "kind": "buy"} {"id": 2}',
        b' {"id": 1, "at": "2024-03-05", "kind": "buy"}',
        b'{"id": 1, "at": "2024-03-05", "kind": "buy", "note": "a{b"}',
        b'{"id": 1, "at": "2024-03-05", "kind": "buy", "note": "[x]"}',
        b'{"id": 007, "at": "2024-03-05", "kind": "buy"}',
        b"null",
        b"5",
        b"[]",
        b"",
        b"{}",
        b"x" * 4_000,  # over max_record_bytes
    ]
)
values = st.one_of(
    record().map(lambda d: _text(d, True)),
    record().map(lambda d: _text(d, False)),
    hostile,
    st.binary(max_size=30),
)


def _messages(batch: list[tuple[bytes | None, bytes | None]]) -> list[Message]:
    return [Message("p0", Offset(i), key, value, (), 1_709_632_800_000 + i) for i, (value, key) in enumerate(batch)]


def _seen(result: ChunkResult) -> tuple[list[dict[str, object]], list[dict[str, object]], dict[str, int]]:
    quarantine = result.quarantine.drop_columns(["quarantined_at"]).to_pylist()
    return result.valid.to_pylist(), quarantine, dict(result.warnings)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batch=st.lists(
        st.tuples(st.one_of(values, st.none()), st.one_of(st.none(), st.sampled_from([b"k1", b"buy"]))),
        min_size=1,
        max_size=6,
    ),
    require_key=st.booleans(),
    broker_columns=st.booleans(),
)
def test_decoding_at_once_with_types_validates_like_each_message_alone(
    batch: list[tuple[bytes | None, bytes | None]], require_key: bool, broker_columns: bool
) -> None:
    messages = _messages(batch)
    columns = {"key_column": "source", "timestamp_column": "at"} if broker_columns else {}
    decoder = JsonDecoder(require_key=require_key, limits=LIMITS, **columns)  # type: ignore[arg-type]
    chunk, fast = decode_valid(decoder, messages, CONTRACT, CTX)
    event("kept the typed read" if chunk.table.schema.field("id").type == pa.int64() else "read as text")
    slow = validate_chunk(decoder.decode_each(messages, CONTRACT), CONTRACT, CTX)
    assert _seen(fast) == _seen(slow)


@settings(max_examples=50, deadline=None)
@given(batch=st.lists(st.fixed_dictionaries({**good, "note": st.text("abcé ", max_size=6)}), min_size=1, max_size=6))
def test_a_valid_batch_is_read_by_arrow_with_its_types(batch: list[dict[str, object]]) -> None:
    messages = _messages([(_text(found, True), b"k") for found in batch])
    decoder = JsonDecoder(limits=LIMITS)
    typed = decoder.decode_typed(messages, CONTRACT)
    assert typed is not None
    assert typed.table.schema.field("id").type == pa.int64()
    assert typed.table.schema.field("paid").type == pa.bool_()
    assert typed.table.schema.field("at").type == pa.string()  # timestamps are typed by the contract's formats


def test_a_batch_with_one_failing_row_is_read_again_as_text_so_its_quarantine_keeps_the_original_values() -> None:
    messages = _messages(
        [
            (b'{"id": 1, "at": "2024-03-05", "kind": "buy", "amount": 2.50}', b"k"),
            (b'{"id": 2, "at": "2024-03-05", "kind": "sell", "amount": 1.50}', b"k"),
        ]
    )
    decoder = JsonDecoder(limits=LIMITS)
    assert decoder.decode_typed(messages, CONTRACT) is not None
    chunk, result = decode_valid(decoder, messages, CONTRACT, CTX)
    assert chunk.table.schema.field("amount").type == pa.string()
    assert result.quarantine.num_rows == 1
    assert dict(result.quarantine.column("record")[0].as_py())["amount"] == "1.50"


def test_values_the_text_path_would_doubt_are_not_read_by_arrow() -> None:
    schema = typed_schema(CONTRACT, set())
    assert schema is not None
    for block in (
        b'{"id": 1}\n{"id": 2, "x": {"y": 1}}',
        b'{"id": 1}\n{"id": NaN}',
        b'{"id": 1}\nnull',
        b'{"id": 1}\n{"id": 1000000000000000000}',
        b'{"id": 1}\n{"id": -1000000000000000000}',
        b'{"id": 1} {"id": 2}\n{"id": 3}',
    ):
        lengths = np.array([len(line) for line in block.split(b"\n")])
        assert typed_read(block, lengths, schema) is None, block
    first, largest = b'{"id": 1}', b'{"id": 999999999999999999}'
    assert typed_read(first + b"\n" + largest, np.array([len(first), len(largest)]), schema) is not None
    assert typed_read(b'{"id": 1}\n{"id": 2}', np.array([8, 10]), schema) is None  # lengths that do not frame it
