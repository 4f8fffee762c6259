"""The stream drills' judge: messages in two commits, poison short or astray, whatever the commits recorded."""

from __future__ import annotations

import itertools
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from chaos.streamparity import StreamParity, committed_twice


def span(first: int, last: int, part: str = "s") -> dict[str, object]:
    return {"source": "redis:s", "from": {part: f"{first}-0"}, "to": {part: f"{last}-0"}}


def test_overlapping_position_ranges_are_messages_committed_twice():
    assert committed_twice([span(1, 10), span(11, 20)]) == []
    assert committed_twice([span(1, 10), span(10, 20)]) == ["s 10..10"]
    assert committed_twice([span(1, 10, "a"), span(5, 20, "b")]) == []


def test_an_ident_digest_recorded_by_two_commits_is_a_message_committed_twice():
    commits: list[dict[str, object]] = [{"ids": ["d1", "d2"]}, {"ids": ["d3"]}, {"ids": ["d2"]}]
    assert committed_twice(commits) == ["ident d2"]


@given(st.lists(st.tuples(st.integers(1, 200), st.integers(0, 20)), max_size=12))
def test_committed_twice_finds_an_overlap_exactly_when_two_ranges_share_a_position(pairs):
    spans = [(first, first + length) for first, length in pairs]
    shared = any(a[0] <= b[1] and b[0] <= a[1] for a, b in itertools.combinations(spans, 2))
    assert bool(committed_twice([span(a, b) for a, b in spans])) == shared


def test_poison_short_of_or_beyond_what_was_produced_breaks_the_verdict():
    exact = StreamParity(produced=3, landed=3, quarantined=Counter(undecodable_bytes=1))
    exact.expected_poison = Counter(undecodable_bytes=1)
    assert exact.held and "quarantined 1 undecodable_bytes" in exact.summary()
    short = StreamParity(produced=3, landed=3, expected_poison=Counter(record_too_large=1), expected_dead=1)
    assert not short.held and not short.wrong and "expected 1 record_too_large and 1 dead-lettered" in short.summary()
    astray = StreamParity(produced=3, landed=2, missing=[7], quarantined=Counter(out_of_range=1))
    assert astray.wrong and "1 missing (e.g. 7)" in astray.summary()


def test_a_message_twice_in_the_lake_or_never_produced_is_wrong_at_any_moment():
    assert StreamParity(produced=2, landed=2, doubled=[4]).wrong
    assert StreamParity(produced=2, landed=2, strangers=[99]).wrong
    assert StreamParity(produced=2, landed=2, committed_twice=["s 3..3"]).wrong


def kafka_batch(ranges: dict[int, tuple[int, int]]) -> dict[str, object]:
    """What a commit of a Kafka batch records: an offset range per partition of the topic."""
    return {
        "source": "kafka:orders",
        "from": {f"orders/{p}": str(first) for p, (first, _) in ranges.items()},
        "to": {f"orders/{p}": str(last) for p, (_, last) in ranges.items()},
    }


def test_kafka_offsets_in_two_commits_of_one_partition_are_committed_twice_and_other_partitions_are_not():
    apart = [kafka_batch({0: (0, 24), 1: (0, 9)}), kafka_batch({0: (25, 49), 2: (0, 24)})]
    assert committed_twice(apart) == []
    same_offsets_elsewhere = [kafka_batch({0: (0, 24)}), kafka_batch({1: (0, 24)})]
    assert committed_twice(same_offsets_elsewhere) == []
    redelivered = [*apart, kafka_batch({1: (5, 30)})]
    assert committed_twice(redelivered) == ["orders/1 5..9"]
