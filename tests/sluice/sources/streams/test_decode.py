"""Hostile message values: every one ends in the lake or in the quarantine with a reason; the loop goes on."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.lake.quarantine import QuarantineQuery, list_entries, open_quarantine
from sluice.settings import RecordLimits
from sluice.sources.streams.base import Message, Offset, StreamBatch
from sluice.sources.streams.decode import JsonDecoder
from sluice.validate.contracts import Contract
from sluice.validate.quality import Reason
from tests.sluice.sources.streams.brokers import lake_ids
from tests.sluice.sources.streams.conftest import event, make_sink

LIMITS = RecordLimits(max_record_bytes=2_000, max_nesting_depth=8, max_field_bytes=500)


def _messages(values: list[bytes | None], keys: list[bytes | None] | None = None) -> list[Message]:
    return [Message("s", Offset(i), (keys or [b"k"] * len(values))[i], v) for i, v in enumerate(values)]


def test_each_kind_of_malformed_value_is_quarantined_with_its_reason(events_contract: Contract) -> None:
    values: list[bytes | None] = [
        event(1),
        b"not json",
        b"[1, 2]",
        None,
        b"\xff\xfe{}",
        b'{"id": 1, "x": ' + b"[" * 20 + b"]" * 20 + b"}",
        b'{"id": ' + b"9" * 3_000 + b"}",
        b'{"id": NaN}',
        event(2),
    ]
    keys: list[bytes | None] = [b"k"] * len(values)
    keys[-1] = None
    chunk = JsonDecoder(require_key=True, limits=LIMITS).decode(_messages(values, keys), events_contract)
    assert chunk.rows.tolist() == [0]
    reasons = {m.line: m.reason for m in chunk.malformed}
    assert reasons == {
        1: Reason.MALFORMED_JSON,
        2: Reason.MALFORMED_JSON,
        3: Reason.MALFORMED_ROW,
        4: Reason.UNDECODABLE_BYTES,
        5: Reason.TOO_DEEPLY_NESTED,
        6: Reason.RECORD_TOO_LARGE,
        7: Reason.MALFORMED_JSON,
        8: Reason.MALFORMED_ROW,
    }


def test_a_lone_surrogate_escape_is_quarantined_as_malformed_json(events_contract: Contract) -> None:
    values: list[bytes | None] = [event(1), b'{"id": 2, "kind": "\\ud800"}', b'{"id": 3, "\\udfff": 1}', event(4)]
    chunk = JsonDecoder(limits=LIMITS).decode(_messages(values), events_contract)
    assert chunk.rows.tolist() == [0, 3]
    assert [(m.line, m.reason) for m in chunk.malformed] == [(1, Reason.MALFORMED_JSON), (2, Reason.MALFORMED_JSON)]
    assert "surrogate" in chunk.malformed[0].detail


def test_values_arrive_as_their_text(events_contract: Contract) -> None:
    chunk = JsonDecoder().decode(
        _messages([b'{"id": 10, "amount": 1.50, "kind": "buy", "extra": {"a": 1}}']), events_contract
    )
    assert chunk.table.to_pylist() == [{"id": "10", "at": None, "kind": "buy", "amount": "1.50"}]


payloads = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(str.encode),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=20,
    ).map(lambda v: json.dumps(v).encode()),
    st.builds(
        lambda i, kind, at: json.dumps({"id": i, "at": at, "kind": kind}).encode(),
        st.integers(-(2**70), 2**70),
        st.sampled_from(["click", "view", "buy", "", "CLICK"]),
        st.sampled_from(["2024-03-05T10:00:00Z", "yesterday", "", "2024-02-30T00:00:00Z"]),
    ),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(payloads | st.none(), min_size=1, max_size=30))
def test_garbage_ends_in_the_quarantine_with_a_reason(
    values: list[bytes | None], events_contract: Contract, tmp_path_factory: object
) -> None:
    home = Path(tmp_path_factory.mktemp("hostile"))  # type: ignore[attr-defined]
    sink = make_sink(home, events_contract, decoder=JsonDecoder(limits=LIMITS))
    good = [event(10_000 + i) for i in range(3)]
    batch = StreamBatch(_messages([*good, *values]))
    out = sink.write("test:hostile", batch)
    assert out.read == out.written + out.quarantined + out.duplicate
    assert set(range(10_000, 10_003)) <= set(lake_ids(home))
    table = open_quarantine(str(home / "quarantine"))
    entries = list_entries(table, QuarantineQuery(dataset="events"), limit=None) if table is not None else []
    assert len(entries) == out.quarantined
    assert all(e.reason and e.failures for e in entries)
