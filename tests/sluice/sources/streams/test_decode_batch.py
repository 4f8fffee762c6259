"""A batch read at once gives what reading each message on its own gives, whatever the values hold."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.settings import RecordLimits
from sluice.sources.streams.base import Message, Offset
from sluice.sources.streams.decode import JsonDecoder
from sluice.validate.contracts import Contract

LIMITS = RecordLimits(max_record_bytes=2_000, max_nesting_depth=8, max_field_bytes=500)
NAMES = ["id", "at", "kind", "amount"]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
flat = st.dictionaries(st.sampled_from([*NAMES, "other", "é"]), scalars, max_size=6)
values = st.one_of(
    flat.map(lambda d: json.dumps(d).encode()),
    flat.map(lambda d: json.dumps(d, ensure_ascii=False, indent=None, separators=(",", ":")).encode()),
    st.dictionaries(st.sampled_from(NAMES), st.one_of(scalars, st.lists(scalars, max_size=3)), max_size=4).map(
        lambda d: json.dumps(d).encode()
    ),
    st.binary(max_size=40),
    st.sampled_from([b'{"id": 1, "id": 2}', b'{"id": tru}', b"{}", b' {"id": 3} ', b'{"a":1}\n{"b":2}', b"[]"]),
)


def _chunk_rows(chunk: object) -> tuple[list[dict[str, object]], list[int], list[tuple[int, str]]]:
    table, rows, malformed = chunk.table, chunk.rows, chunk.malformed  # type: ignore[attr-defined]
    return table.to_pylist(), rows.tolist(), [(m.line, m.reason.value) for m in malformed]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    batch=st.lists(st.tuples(values, st.one_of(st.none(), st.binary(max_size=4))), min_size=1, max_size=8),
    require_key=st.booleans(),
)
def test_a_batch_read_at_once_matches_each_message_read_alone(
    events_contract: Contract, batch: list[tuple[bytes, bytes | None]], require_key: bool
) -> None:
    messages = [Message("s", Offset(i), key, value, (), 1_700_000_000_000 + i) for i, (value, key) in enumerate(batch)]
    decoder = JsonDecoder(require_key=require_key, key_column="kind", timestamp_column="at", limits=LIMITS)
    assert _chunk_rows(decoder.decode(messages, events_contract)) == _chunk_rows(
        decoder.decode_each(messages, events_contract)
    )


def test_a_clean_batch_takes_no_per_message_parse(events_contract: Contract) -> None:
    values = [
        json.dumps({"id": i, "at": "2024-03-05T10:00:00Z", "kind": "click", "amount": i / 4}).encode()
        for i in range(50)
    ]
    messages = [Message("s", Offset(i), b"k", v) for i, v in enumerate(values)]
    decoder = JsonDecoder(limits=LIMITS)
    whole = decoder._whole(messages, events_contract.column_names)
    assert whole is not None
    assert whole.table.column("amount").to_pylist()[:3] == ["0.0", "0.25", "0.5"]
    assert _chunk_rows(whole) == _chunk_rows(decoder.decode_each(messages, events_contract))
