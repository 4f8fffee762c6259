"""Kafka batches as columns behave as the list of messages they stand for: ranges, size, dedup, slices."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sluice.sources.streams.base import Message, MessageColumns, Offset, StreamBatch
from sluice.sources.streams.positions import unseen

_message = st.tuples(
    st.integers(0, 3),
    st.integers(0, 2**40),
    st.none() | st.binary(max_size=8),
    st.none() | st.binary(max_size=40),
    st.integers(-1, 2**41),
)


def _columns(rows: list[tuple[int, int, bytes | None, bytes | None, int]]) -> MessageColumns:
    return MessageColumns(
        names=tuple(f"t/{p}" for p in range(4)),
        part=np.asarray([r[0] for r in rows], dtype=np.int64),
        offsets=np.asarray([r[1] for r in rows], dtype=np.int64),
        keys=[r[2] for r in rows],
        values=[r[3] for r in rows],
        stamps=np.asarray([r[4] for r in rows], dtype=np.int64),
        headers=None,
        sizes=np.asarray([len(r[2] or b"") + len(r[3] or b"") for r in rows], dtype=np.int64),
    )


def _messages(rows: list[tuple[int, int, bytes | None, bytes | None, int]]) -> list[Message]:
    return [Message(f"t/{p}", Offset(o), k, v, (), None if s < 0 else s) for p, o, k, v, s in rows]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(_message, min_size=1, max_size=60),
    st.dictionaries(st.sampled_from([f"t/{p}" for p in range(5)]), st.integers(0, 2**40)),
    st.integers(0, 60),
)
def test_a_columnar_batch_matches_its_messages_in_ranges_size_dedup_and_slices(rows, held, cut):
    cols, listed = StreamBatch(columns=_columns(rows)), StreamBatch(_messages(rows))
    assert cols.messages == listed.messages
    assert (cols.ranges, cols.size, len(cols), cols.partitions()) == (
        listed.ranges,
        listed.size,
        len(listed),
        listed.partitions(),
    )
    positions = {p: Offset(o) for p, o in held.items()}
    (fresh_cols, dropped_cols), (fresh_list, dropped_list) = unseen(cols, positions), unseen(listed, positions)
    assert (fresh_cols.messages, dropped_cols) == (fresh_list.messages, dropped_list)
    assert list(cols.columns[cut:]) == listed.messages[cut:]  # type: ignore[index]
    assert list(MessageColumns.concat([cols.columns[:cut], cols.columns[cut:]])) == listed.messages  # type: ignore[index]
