"""SIGKILL a sync at random points; the next sync loses and duplicates nothing."""

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
from tests.apiserver import ApiServer
from tests.sluice.sources.api.apifixtures import CLIENT_ID, SECRET, harness, lake_rows

pytestmark = pytest.mark.serial
ROOT = Path(__file__).resolve().parents[4]
KILLS = 4


def _committed_requests(lake: Path) -> list[tuple[int, str]]:
    """The (pass, offset of the first page) of every commit to the accounts table."""
    found = []
    for entry in DeltaTable(str(lake / "lake" / "crm_accounts")).history():
        raw = entry.get(f"{META_PREFIX}sources")
        if not isinstance(raw, str):
            continue
        for batch in json.loads(raw):
            position = json.loads(batch["position"])
            found.append((int(position["pass"]), str(position["request"]["params"].get("offset"))))
    return found


def _wait_for_requests(server: ApiServer, at_least: int) -> None:
    deadline = time.monotonic() + 60
    while len(server.api_requests()) < at_least and time.monotonic() < deadline:
        time.sleep(0.02)


def test_a_sync_killed_at_random_points_then_resumed_loses_and_duplicates_nothing(tmp_path) -> None:
    rng = random.Random(11)
    with ApiServer(accounts=400) as server:
        server.add_client(CLIENT_ID, SECRET)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        for _ in range(KILLS):
            worker = subprocess.Popen(
                [sys.executable, "-m", "tests.sluice.sources.api.sync_worker", str(tmp_path), server.url],
                cwd=ROOT,
                env=env,
            )
            _wait_for_requests(server, len(server.api_requests()) + rng.randint(3, 20))
            worker.send_signal(signal.SIGKILL)
            worker.wait()
        h = harness(tmp_path, server.url, limit=5, rps=40, commit_records=10)
        h.sync()

        assert Counter(str(r["account_id"]) for r in lake_rows(tmp_path)) == Counter(
            dict.fromkeys(server.state.accounts, 1)
        )
    first_pass = Counter(req for req in _committed_requests(tmp_path) if req[0] == 1)
    assert set(first_pass.values()) == {1}  # no page of the pass committed twice
    assert len(first_pass) == 41  # 400 records in pages of 5, committed by twos, and the empty page after
