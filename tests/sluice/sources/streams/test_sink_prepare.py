"""A batch decoded ahead of its commit: used when the lake holds none of it, decoded again for what is left."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice.sources.streams import sink as sink_module
from sluice.sources.streams.base import Message, Offset, StreamBatch
from sluice.validate.contracts import Contract
from tests.sluice.sources.streams.brokers import lake_ids
from tests.sluice.sources.streams.conftest import event, make_sink


def _batch(first: int, last: int, bad: int | None = None) -> StreamBatch:
    return StreamBatch(
        [Message("p0", Offset(i), None, b"not json" if i == bad else event(i)) for i in range(first, last + 1)]
    )


def test_a_batch_prepared_ahead_is_committed_without_decoding_it_again(
    tmp_path: Path, events_contract: Contract, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = make_sink(tmp_path, events_contract)
    batch = _batch(0, 5, bad=2)
    prepared = sink.prepare("redis:events", batch)
    monkeypatch.setattr(sink_module, "decode_valid", lambda *a, **k: pytest.fail("decoded again"))

    outcome = sink.write("redis:events", batch, prepared)

    assert (outcome.written, outcome.quarantined) == (5, 1)
    assert sorted(lake_ids(tmp_path)) == [0, 1, 3, 4, 5]


def test_a_batch_the_lake_partly_holds_is_decoded_again_for_the_messages_left(
    tmp_path: Path, events_contract: Contract
) -> None:
    sink = make_sink(tmp_path, events_contract)
    sink.write("redis:events", _batch(0, 2, bad=1))  # the lake holds 0-2, and message 1 is quarantined
    batch = _batch(0, 5, bad=1)
    prepared = sink.prepare("redis:events", batch)  # the whole batch, its bad message too
    assert prepared.result.quarantine.num_rows == 1

    outcome = sink.write("redis:events", batch, prepared)

    assert (outcome.written, outcome.quarantined, outcome.duplicate) == (3, 0, 3)
    assert sorted(lake_ids(tmp_path)) == [0, 2, 3, 4, 5]
