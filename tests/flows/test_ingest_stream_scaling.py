"""The ingest-stream flow scales its consumers by the lag: a burst adds consumers, the drain removes them."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis

from flows.ingest_stream import ingest_stream
from ops.metrics.models import Selector
from ops.metrics.store import open_store
from sluice.lake.log import history
from sluice.runs.records import RunReport
from sluice.settings import get_settings
from sluice.sources.streams.base import Offset
from sluice.sources.streams.positions import STREAM_META
from tests.sluice.sources.streams.brokers import lake_ids, produce_kafka, produce_redis
from tests.sluice.sources.streams.conftest import (  # noqa: F401 - fixtures
    REDIS_URL,
    event,
    kafka,
    kafka_cluster,
    redis_stream,
)

pytestmark = [pytest.mark.integration, pytest.mark.serial]
BURST = 3000


def test_a_burst_raises_the_consumer_count_and_the_drain_lowers_it_with_every_message_once(
    prefect_api, events_home, redis_stream: tuple[redis.Redis, str]
) -> None:
    client, stream = redis_stream
    produce_redis(client, stream, [event(i) for i in range(BURST)])
    before = datetime.now(timezone.utc) - timedelta(seconds=1)

    report, counts = _scaled_run("redis", stream, REDIS_URL, before)
    peak = counts.index(max(counts))
    assert max(counts) == 3  # the burst's lag added consumers up to the bound
    assert 1 in counts[peak:], counts  # the drained lag took them back to the floor
    assert counts[-1] == 0  # the run ended
    assert report.status == "completed" and report.rows_written == BURST
    assert sorted(lake_ids(Path(get_settings().lake_root()).parent)) == list(range(BURST))
    assert int(client.xpending(stream, "sluice")["pending"]) == 0
    consumers = {c["name"].decode() for c in client.xinfo_consumers(stream, "sluice")}
    assert len(consumers) == 3  # each consumer had its own name in the group


def test_kafka_partitions_are_split_among_the_added_consumers_and_each_message_lands_once(
    prefect_api, events_home, kafka: tuple[str, str]
) -> None:
    bootstrap, topic = kafka
    produce_kafka(bootstrap, topic, [event(i) for i in range(BURST)])
    before = datetime.now(timezone.utc) - timedelta(seconds=1)

    report, counts = _scaled_run("kafka", topic, bootstrap, before)
    peak = counts.index(max(counts))
    assert max(counts) >= 2 and 1 in counts[peak:] and counts[-1] == 0, counts
    assert report.status == "completed"
    lake = Path(get_settings().lake_root()) / "events"
    assert sorted(lake_ids(lake.parent.parent)) == list(range(BURST))
    for partition, spans in committed_ranges(lake).items():  # positions alone kept each message to one commit
        spans.sort()
        assert all(b[0] > a[1] for a, b in itertools.pairwise(spans)), partition


def _scaled_run(broker: str, topic: str, address: str, before: datetime) -> tuple[RunReport, list[int]]:
    """One run of 1 to 3 consumers scaled on a lag of 100/20, sampled every 0.2 s; its report and consumer counts."""
    report = ingest_stream(
        "events",
        broker,
        topic,
        address=address,
        idle_seconds=2.0,
        max_records=25,
        min_consumers=1,
        max_consumers=3,
        lag_high_water=100,
        lag_low_water=20,
        scale_interval_seconds=0.2,
        scale_sustain_samples=1,
        scale_cooldown_samples=1,
    )

    store = open_store(home=get_settings().home)
    (series,) = store.query_range(
        Selector.parse(f'sluice_stream_consumers{{topic="{topic}"}}'), before, datetime.now(timezone.utc)
    )
    return report, [int(v) for v in series.values]


def committed_ranges(table: Path) -> dict[str, list[tuple[Offset, Offset]]]:
    spans: dict[str, list[tuple[Offset, Offset]]] = {}
    for entry in history(str(table)):
        meta = entry.metadata.get(STREAM_META)
        if isinstance(meta, dict):
            for part, first in meta["from"].items():
                spans.setdefault(part, []).append((Offset.parse(first), Offset.parse(meta["to"][part])))
    return spans
