"""The ingest-stream flow scales its consumers by the lag: a burst adds consumers, the drain removes them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis

from flows.ingest_stream import ingest_stream
from ops.metrics.models import Selector
from ops.metrics.store import open_store
from sluice.settings import get_settings
from tests.flows.test_ingest_stream import events_home  # noqa: F401 - the fixture
from tests.sluice.sources.streams.brokers import lake_ids, produce_redis
from tests.sluice.sources.streams.conftest import REDIS_URL, event, redis_stream  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration
BURST = 3000


def test_a_burst_raises_the_consumer_count_and_the_drain_lowers_it_with_every_message_once(
    prefect_api, events_home, redis_stream: tuple[redis.Redis, str]
) -> None:
    client, stream = redis_stream
    produce_redis(client, stream, [event(i) for i in range(BURST)])
    before = datetime.now(timezone.utc) - timedelta(seconds=1)

    report = ingest_stream(
        "events",
        "redis",
        stream,
        address=REDIS_URL,
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
        Selector.parse(f'sluice_stream_consumers{{topic="{stream}"}}'), before, datetime.now(timezone.utc)
    )
    counts = [int(v) for v in series.values]
    peak = counts.index(max(counts))
    assert max(counts) == 3  # the burst's lag added consumers up to the bound
    assert 1 in counts[peak:], counts  # the drained lag took them back to the floor
    assert counts[-1] == 0  # the run ended
    assert report.status == "completed" and report.rows_written == BURST
    assert sorted(lake_ids(Path(get_settings().lake_root()).parent)) == list(range(BURST))
    assert int(client.xpending(stream, "sluice")["pending"]) == 0
    consumers = {c["name"].decode() for c in client.xinfo_consumers(stream, "sluice")}
    assert len(consumers) == 3  # each consumer had its own name in the group
