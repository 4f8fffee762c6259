"""Completeness of stream batches: the source's count of what a batch's positions span against what was delivered.

Real brokers throughout (librdkafka's mock cluster, Redis, RabbitMQ); the loss is a consumer that drops messages
between the broker and the sink (:class:`Lossy`), the seam the flow builds its source at.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import redis
from confluent_kafka import Producer
from hypothesis import given, settings
from hypothesis import strategies as st

from sluice.sources.streams import kafka_totals
from sluice.sources.streams.base import BatchLimits, Offset, StreamBatch, StreamSource
from sluice.sources.streams.consume import ConsumeOutcome, ConsumeSpec, consume
from sluice.sources.streams.kafka_totals import compaction, gaps, in_gaps
from sluice.sources.streams.scale import ScalingPolicy, SuperviseSpec, supervise
from sluice.sources.streams.sink import BatchOutcome
from sluice.sources.streams.totals import NO_POSITIONS, SpanCount
from sluice.validate.completeness import CompletenessSpec
from sluice.validate.contracts import Contract
from tests.sluice.sources.streams.brokers import (
    kafka_source,
    lake_ids,
    produce_rabbit,
    produce_redis,
    rabbit_source,
    redis_source,
)
from tests.sluice.sources.streams.conftest import REDIS_URL, event, make_sink
from tests.sluice.sources.streams.mock_cluster import running

TOPICS = ("lossy", "again", "warned", "txn", "compacted")
SPEC = ConsumeSpec(BatchLimits(max_records=25, max_wait_s=0.2), follow_s=0, idle_s=1.5)  # a group of each test's own


@pytest.fixture(scope="module")
def bootstrap() -> Iterator[str]:
    """A mock cluster of this module's own: its topics have 3 partitions, one is never shared between tests."""
    with running(tuple((t, 3) for t in TOPICS)) as (servers, _):
        yield servers


def _produce(bootstrap: str, topic: str, count: int) -> None:
    """``count`` events into partition 0 only: the order polled is the offsets' order, so every loss is known."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i in range(count):
        producer.produce(topic, value=event(i), key=str(i).encode(), partition=0)
    assert producer.flush(30) == 0


def _contract(base: Contract, completeness: object) -> Contract:
    return base.model_copy(update={"completeness": CompletenessSpec.model_validate(completeness)})


class Lossy:
    """A consumer that loses every ``every``-th message it polls, and says nothing: the bug the totals catch."""

    def __init__(self, inner: StreamSource, every: int = 7) -> None:
        self.inner, self.every, self.seen = inner, every, 0

    @property
    def name(self) -> str:
        return self.inner.name

    def poll(self, limits: BatchLimits) -> StreamBatch:
        batch = self.inner.poll(limits)
        keep = (np.arange(self.seen, self.seen + len(batch)) % self.every) != self.every - 1
        self.seen += len(batch)
        if batch.columns is not None:
            return StreamBatch(columns=batch.columns.take(np.flatnonzero(keep)))
        return StreamBatch([m for m, k in zip(batch.messages, keep.tolist(), strict=True) if k])

    def account(self, batch: StreamBatch, held: dict[str, Offset]) -> list[SpanCount]:
        return self.inner.account(batch, held)  # type: ignore[attr-defined]

    def acknowledge(self, batch: StreamBatch) -> None:
        self.inner.acknowledge(batch)

    def pause(self) -> None:
        self.inner.pause()

    def resume(self) -> None:
        self.inner.resume()

    def paused_partitions(self) -> list[str]:
        return self.inner.paused_partitions()

    def close(self) -> None:
        self.inner.close()


def _checks(out: ConsumeOutcome) -> list[tuple[int | None, int, bool]]:
    return [(c.source_rows, c.read_rows, c.agrees) for b in [*out.batches, *out.held_back] for c in b.totals]


@settings(max_examples=200, deadline=None)
@given(st.sets(st.integers(0, 500), min_size=1), st.integers(0, 50))
def test_gaps_and_the_delivered_offsets_cover_the_span_exactly(found: set[int], before: int) -> None:
    offsets = np.asarray(sorted(found), dtype=np.int64)
    start = max(0, int(offsets[0]) - before)
    runs = gaps(start, offsets)
    missing = {o for a, b in runs.tolist() for o in range(a, b + 1)}
    assert missing.isdisjoint(found) and missing | found == set(range(start, int(offsets[-1]) + 1))
    if len(runs):
        assert in_gaps(np.arange(start, int(offsets[-1]) + 2), runs) == len(missing)


@pytest.mark.parametrize(
    ("policy", "compacted"),
    [("compact", True), ("delete,compact", True), ("compact, delete", True), ("delete", False), ("", False)],
)
def test_a_topic_is_compacted_by_its_cleanup_policy(policy: str, compacted: bool) -> None:
    assert compaction({"cleanup.policy": policy}) is compacted


def test_kafka_a_lost_message_holds_its_batch_back_under_strict_and_a_clean_rerun_lands_all(
    bootstrap: str, events_contract: Contract, tmp_path: Path
) -> None:
    _produce(bootstrap, "lossy", 120)
    sink = make_sink(tmp_path, _contract(events_contract, "strict"))

    lossy = consume(Lossy(kafka_source(bootstrap, "lossy", sink, group="lossy")), sink, SPEC)

    [withheld] = lossy.held_back
    assert not lossy.batches and lake_ids(tmp_path) == []  # its 7th message was lost: nothing after it lands
    bad = [c for c in withheld.totals if not c.agrees]
    assert bad and all(c.source_rows is not None and c.source_rows > c.read_rows for c in bad)
    assert all("re-read" in c.origin and "describe_configs answered" in c.origin for c in bad)

    rerun = ConsumeSpec(SPEC.limits, follow_s=0, idle_s=4.0)  # the group takes the new member in after the old left
    whole = consume(kafka_source(bootstrap, "lossy", sink, group="lossy"), sink, rerun)  # from the lake's positions
    assert sorted(lake_ids(tmp_path)) == list(range(120)) and not whole.held_back
    assert all(agree for _, _, agree in _checks(whole)) and sum(n for _, n, _ in _checks(whole)) == 120


def test_kafka_a_loss_at_a_batch_edge_shows_in_the_next_batch_span_from_the_lake_position(
    bootstrap: str, events_contract: Contract, tmp_path: Path
) -> None:
    _produce(bootstrap, "again", 60)
    sink = make_sink(tmp_path, _contract(events_contract, "warn"))
    one = ConsumeSpec(BatchLimits(max_records=5, max_wait_s=0.2), follow_s=0, idle_s=1.5)

    lossy = Lossy(kafka_source(bootstrap, "again", sink, group="again"), every=5)  # each batch's last is lost
    out = consume(lossy, sink, one)

    assert len(lake_ids(tmp_path)) == 48 and not out.held_back
    checks = _checks(out)  # every lost message but the very last is inside some batch's span from the lake's position
    assert sum(s or 0 for s, _, _ in checks) - sum(r for _, r, _ in checks) == 11


def test_kafka_a_loss_lands_under_warn_with_both_sides_recorded(
    bootstrap: str, events_contract: Contract, tmp_path: Path
) -> None:
    _produce(bootstrap, "warned", 71)
    sink = make_sink(tmp_path, _contract(events_contract, "warn"))

    out = consume(Lossy(kafka_source(bootstrap, "warned", sink, group="warned"), every=10), sink, SPEC)

    assert len(lake_ids(tmp_path)) == 64 and not out.held_back
    checks = _checks(out)
    assert sum(s or 0 for s, _, _ in checks) == 71 and sum(r for _, r, _ in checks) == 64
    assert sum(not agree for _, _, agree in checks) >= 1


def test_kafka_transaction_markers_are_gaps_with_no_message_and_agree_under_strict(
    bootstrap: str, events_contract: Contract, tmp_path: Path
) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"tx-{tmp_path.name}"})
    producer.init_transactions(10)
    for t in range(4):
        producer.begin_transaction()
        for i in range(10):
            producer.produce("txn", value=event(t * 10 + i), key=str(i % 3).encode(), partition=0)
        producer.commit_transaction(10)
    sink = make_sink(tmp_path, _contract(events_contract, "strict"))

    out = consume(kafka_source(bootstrap, "txn", sink, group="txn"), sink, SPEC)

    assert sorted(lake_ids(tmp_path)) == list(range(40)) and not out.held_back
    gapped = [c for b in out.batches for c in b.totals if "hold no message" in c.origin]
    assert gapped and all(c.agrees for b in out.batches for c in b.totals)


def test_kafka_a_compacted_topic_is_not_comparable_and_lands_under_strict(
    bootstrap: str, events_contract: Contract, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The mock cluster answers describe_configs with UNSUPPORTED_FEATURE: the brokers' answer is given here.
    monkeypatch.setattr(kafka_totals, "topic_configs", lambda config, topic: {"cleanup.policy": "compact"})
    _produce(bootstrap, "compacted", 50)
    sink = make_sink(tmp_path, _contract(events_contract, "strict"))

    out = consume(Lossy(kafka_source(bootstrap, "compacted", sink, group="compacted")), sink, SPEC)

    assert not out.held_back and len(lake_ids(tmp_path)) == 43
    gapped = [c for b in out.batches for c in b.totals if not c.comparable]
    assert gapped and all(c.not_comparable.startswith("cleanup.policy=compact") for c in gapped)
    assert all(c.agrees for b in out.batches for c in b.totals if c.comparable)


def test_redis_a_lost_entry_holds_back_under_strict_and_lands_with_a_disagreement_under_warn(
    redis_stream: tuple[redis.Redis, str], events_contract: Contract, tmp_path: Path
) -> None:
    client, stream = redis_stream
    produce_redis(client, stream, [event(i) for i in range(60)])
    strict = make_sink(tmp_path, _contract(events_contract, "strict"))

    held = consume(Lossy(redis_source(REDIS_URL, stream)), strict, SPEC)

    [withheld] = held.held_back
    assert lake_ids(tmp_path) == [] and [(c.source_rows, c.read_rows) for c in withheld.totals] == [(25, 22)]
    assert withheld.totals[0].origin.startswith("XRANGE")

    warn = make_sink(tmp_path, _contract(events_contract, "warn"))
    landed = consume(Lossy(redis_source(REDIS_URL, stream)), warn, SPEC)  # its own pending entries first
    assert sum(s or 0 for s, _, _ in _checks(landed)) == 60 and len(lake_ids(tmp_path)) == 52


def test_redis_entries_deleted_inside_the_span_make_it_not_comparable(
    redis_stream: tuple[redis.Redis, str], events_contract: Contract, tmp_path: Path
) -> None:
    client, stream = redis_stream
    ids = produce_redis(client, stream, [event(i) for i in range(20)])
    source = redis_source(REDIS_URL, stream)
    batch = source.poll(BatchLimits(max_records=20))
    client.xdel(stream, ids[4])  # deleted after it was delivered: the count alone would miss a loss
    sink = make_sink(tmp_path, _contract(events_contract, "strict"))

    done = sink.write(source.name, batch, account=source)
    source.close()

    assert not done.held_back and done.written == 20
    [check] = done.totals
    assert check.read_rows == 20 and "deleted inside the span" in check.not_comparable


def test_a_queue_has_no_positions_and_is_not_comparable(
    rabbit_queue: tuple[object, object], events_contract: Contract, tmp_path: Path
) -> None:
    _, config = rabbit_queue
    produce_rabbit(config.url, config.queue, [event(i) for i in range(10)], [f"m{i}" for i in range(10)])  # type: ignore[attr-defined]
    sink = make_sink(tmp_path, _contract(events_contract, "strict"))
    out = consume(rabbit_source(config.url, config.queue), sink, SPEC)  # type: ignore[attr-defined]
    assert len(lake_ids(tmp_path)) == 10 and not out.held_back
    assert {c.not_comparable for b in out.batches for c in b.totals} == {NO_POSITIONS}


def test_a_supervised_run_stops_every_consumer_once_one_held_a_batch_back() -> None:
    def run(index: int, stop: threading.Event, counted: Callable[[BatchOutcome], None]) -> ConsumeOutcome:
        if index == 0:
            return ConsumeOutcome(held_back=[BatchOutcome(read=5, held_back=True)])
        stop.wait()  # a consumer that would run until told to stop
        return ConsumeOutcome()

    found: list[ConsumeOutcome] = []
    policy = ScalingPolicy(min_consumers=2, max_consumers=2)
    watch = SuperviseSpec(interval_s=0.05, follow_s=None)  # None: it would run until cancelled
    worker = threading.Thread(target=lambda: found.append(supervise(run, lambda: 0, policy, watch).outcome))
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive() and [len(o.held_back) for o in found] == [1]
