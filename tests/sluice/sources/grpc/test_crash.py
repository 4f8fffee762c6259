"""SIGKILL a stream sync at random points; the next sync loses and duplicates nothing."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from deltalake import DeltaTable

from sluice.lake.table import META_PREFIX
from tests.grpcserver import FeedServer, event_id
from tests.sluice.sources.grpc.grpcfixtures import harness, lake_rows

pytestmark = pytest.mark.serial
ROOT = Path(__file__).resolve().parents[4]
KILLS = 4
EVENTS = 300


def _committed_after(lake: Path) -> list[str | None]:
    """The token each commit to the table started after."""
    found = []
    for entry in DeltaTable(str(lake / "lake" / "feed_events")).history():
        raw = entry.get(f"{META_PREFIX}sources")
        if isinstance(raw, str):
            found += [json.loads(batch["position"])["after"] for batch in json.loads(raw)]
    return found


def _wait_for_messages(server: FeedServer, at_least: int) -> None:
    deadline = time.monotonic() + 60
    while server.state.sent < at_least and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_stream_sync_killed_at_random_points_then_resumed_loses_and_duplicates_nothing(tmp_path) -> None:
    rng = random.Random(7)
    with FeedServer(events=EVENTS) as server:
        server.state.faults.delay_s = 0.01
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        for _ in range(KILLS):
            worker = subprocess.Popen(
                [sys.executable, "-m", "tests.sluice.sources.grpc.sync_worker", str(tmp_path), server.target],
                cwd=ROOT,
                env=env,
            )
            _wait_for_messages(server, server.state.sent + rng.randint(5, 40))
            worker.send_signal(signal.SIGKILL)
            worker.wait()
        server.state.faults.delay_s = 0.0
        harness(tmp_path, server.target, batching={"records": 7, "seconds": 60}).sync()

        assert len(server.state.calls) > KILLS  # every worker got a call under way before its kill
    assert Counter(str(r["event_id"]) for r in lake_rows(tmp_path)) == Counter({event_id(i): 1 for i in range(EVENTS)})
    starts = Counter(_committed_after(tmp_path))
    assert set(starts.values()) == {1}  # no batch committed twice
