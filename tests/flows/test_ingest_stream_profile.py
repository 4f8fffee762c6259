"""A stream run profiles the rows of every batch it committed, as one profile of the run."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import redis

from flows.ingest_stream import ingest_stream
from ops.metrics.models import Selector
from ops.metrics.store import open_store
from sluice.settings import get_settings
from tests.sluice.sources.streams.brokers import produce_redis
from tests.sluice.sources.streams.conftest import REDIS_URL, event, redis_stream  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration


def test_a_stream_run_writes_one_profile_of_all_its_committed_rows(
    prefect_api, events_home, redis_stream: tuple[redis.Redis, str]
) -> None:
    client, stream = redis_stream
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    produce_redis(client, stream, [event(i, kind="view" if i % 4 else "click") for i in range(40)])

    report = ingest_stream("events", "redis", stream, address=REDIS_URL, idle_seconds=1.0)

    store = open_store(home=get_settings().home)
    shares = store.query_range(
        Selector.parse('sluice_column_top_share{dataset="events",column="kind"}'), before, datetime.now(timezone.utc)
    )
    assert report.rows_written == 40
    assert {s.labels["value"]: s.values.tolist() for s in shares} == {"view": [0.75], "click": [0.25]}
