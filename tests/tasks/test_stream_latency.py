"""End-to-end stream latency as the metric sluice_stream_latency_seconds, from a real Redis stream whose entry ids
carry a known age: each committed batch writes its p50 and p99, bounded by that age and the run's own duration."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
import redis

from ops.metrics.embedded import EmbeddedStore
from ops.metrics.models import Selector
from ops.metrics.prometheus import PrometheusStore
from ops.metrics.streams import STREAM_LATENCY_SECONDS
from sluice.sources.streams.base import BatchLimits, Message, Offset
from sluice.sources.streams.consume import ConsumeSpec, consume
from sluice.sources.streams.lag import StreamTarget
from sluice.sources.streams.latency import batch_latency
from sluice.sources.streams.sink import BatchOutcome
from sluice.validate.contracts import Contract
from tasks.streams import StreamRecorder
from tests.sluice.sources.streams.brokers import redis_source
from tests.sluice.sources.streams.conftest import REDIS_URL, event, events_contract, make_sink, redis_stream  # noqa: F401 - fixtures

SPEC = ConsumeSpec(BatchLimits(max_records=50, max_wait_s=0.1), follow_s=0, idle_s=0.8)
OLD_S, NEWER_S = 120, 60  # how long before the run the entries' ids say they were produced


def _add_aged(client: redis.Redis, stream: str, now_ms: int) -> None:
    """30 entries produced OLD_S ago, then 70 produced NEWER_S ago (explicit ids: ``<ms>-<seq>``)."""
    for i in range(100):
        age = OLD_S if i < 30 else NEWER_S
        client.xadd(stream, {"value": event(i), "key": str(i)}, id=f"{now_ms - age * 1000}-{i + 1}")


def test_each_batch_writes_p50_and_p99_bounded_by_the_injected_age(
    redis_stream: tuple[redis.Redis, str], events_contract: Contract, tmp_path: Path
) -> None:
    client, stream = redis_stream
    store = EmbeddedStore(tmp_path / "metrics")
    started_ms = int(time.time() * 1000)
    _add_aged(client, stream, started_ms)
    record = StreamRecorder(StreamTarget("redis", stream), "test", store, "events").batch
    out = consume(redis_source(REDIS_URL, stream), make_sink(tmp_path, events_contract), SPEC, on_batch=record)
    run_s = (time.time() * 1000 - started_ms) / 1000  # every commit happened within the run
    assert [b.read for b in out.batches] == [50, 50]
    now = datetime.now(timezone.utc)
    found = {
        s.labels["quantile"]: s
        for s in store.query_range(Selector(STREAM_LATENCY_SECONDS), now - timedelta(hours=1), now)
    }
    assert set(found) == {"0.5", "0.99"}
    assert all(s.labels["broker"] == "redis" and s.labels["topic"] == stream for s in found.values())
    assert all(s.labels["dataset"] == "events" and s.labels["environment"] == "test" for s in found.values())
    p50, p99 = found["0.5"].values, found["0.99"].values
    assert len(p50) == len(p99) == 2  # one point per committed batch
    # First batch: 30 entries OLD_S old and 20 NEWER_S old; the second: 50 NEWER_S old.
    assert OLD_S <= p99[0] <= OLD_S + run_s and NEWER_S <= p50[0] <= OLD_S + run_s
    assert NEWER_S <= p50[1] <= NEWER_S + run_s and NEWER_S <= p99[1] <= NEWER_S + run_s
    assert np.all(found["0.5"].timestamps >= started_ms * 1_000_000)  # stamped at the commit, not at produce time


def test_messages_without_a_time_and_batches_the_lake_held_record_nothing(tmp_path: Path) -> None:
    untimed = [Message("q", Offset(i), None, b"{}") for i in range(3)]
    assert batch_latency(untimed, 1_000) is None
    store = EmbeddedStore(tmp_path / "metrics")
    StreamRecorder(StreamTarget("rabbitmq", "q"), "test", store, "events").batch(BatchOutcome(read=3, duplicate=3))
    assert store.series(Selector(STREAM_LATENCY_SECONDS)) == []


def test_a_store_that_takes_no_writes_leaves_the_batches_alone(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A logger of its own: a logging set-up of an earlier test in this process may have disabled the module's.
    monkeypatch.setattr("tasks.streams.log", logging.getLogger("tests.tasks.stream_recorder"))
    timed = [Message("s", Offset(i), None, b"{}", (), 1_000 + i) for i in range(4)]
    latency = batch_latency(timed, 3_000)
    assert latency is not None and latency.p50 == pytest.approx(1.9985) and latency.worst == pytest.approx(2.0)
    record = StreamRecorder(StreamTarget("redis", "s"), "test", PrometheusStore("http://127.0.0.1:9"), "events").batch
    record(BatchOutcome(read=4, written=4, latency=latency))
    record(BatchOutcome(read=4, written=4, latency=latency))
    assert sum("not recorded" in r.getMessage() for r in caplog.records) == 1
