"""SIGKILL the capture at random points while the source changes: every change lands once, none is lost."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest
from deltalake import DeltaTable

from sluice.runs.metastore import engine_for
from sluice.sources.cdc import slots
from sluice.sources.cdc.capture import capture
from sluice.sources.cdc.errors import SlotInUseError
from tests.sluice.sources.cdc.conftest import CdcSource
from tests.sluice.sources.cdc.test_capture import raw_changes

pytestmark = pytest.mark.serial

ROOT = Path(__file__).resolve().parents[4]
KILLS = int(os.environ.get("SLUICE_CDC_KILLS", "20"))


def _writer(dsn: str, stop: threading.Event, seed: int) -> None:
    rng = random.Random(seed)
    with psycopg.connect(dsn, autocommit=True) as conn:
        next_id = 0
        while not stop.is_set():
            with conn.transaction():
                for _ in range(rng.randint(1, 5)):
                    roll = rng.random()
                    if roll < 0.6 or next_id < 10:
                        conn.execute("INSERT INTO accounts (id, name) VALUES (%s, %s)", (next_id, f"n{next_id}"))
                        next_id += 1
                    elif roll < 0.85:
                        conn.execute("UPDATE accounts SET name = name || 'u' WHERE id = %s", (rng.randrange(next_id),))
                    else:
                        conn.execute("DELETE FROM accounts WHERE id = %s", (rng.randrange(next_id),))
            time.sleep(rng.uniform(0, 0.01))


def _start_worker(source: CdcSource, home: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    args = [source.dsn, source.slot, str(home), "50"]
    module = "tests.sluice.sources.cdc.capture_worker"
    return subprocess.Popen(
        [sys.executable, "-m", module, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def _drain(source: CdcSource, home: Path) -> None:
    sink = source.sink(home, engine=engine_for(f"sqlite:///{home / 'sluice.db'}"))
    for _ in range(50):
        try:
            capture(source.spec(), sink)
            return
        except SlotInUseError:  # the last killed worker's backend is still on its way out
            time.sleep(0.2)
    pytest.fail("the slot stayed busy after every worker was killed")


@pytest.mark.timeout(600)
def test_sigkill_at_random_points_loses_and_duplicates_nothing(cdc_source: CdcSource, tmp_path: Path) -> None:
    with cdc_source.connect() as conn:
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'wal2json')", (f"w_{cdc_source.slot}"[:63],))
    home = tmp_path / "home"
    rng = random.Random(1616)
    stop = threading.Event()
    writer = threading.Thread(target=_writer, args=(cdc_source.dsn, stop, 16), daemon=True)
    writer.start()
    killed_with_output = 0
    try:
        for _ in range(KILLS):
            worker = _start_worker(cdc_source, home)
            assert worker.stdout is not None
            worker.stdout.readline()  # "ready" once imported (or "" if it died: reported below)
            time.sleep(rng.uniform(0.0, 3.0))  # from then on, kills land mid-capture
            if worker.poll() is not None:
                pytest.fail(f"the capture worker died on its own: {worker.stderr.read().decode()[-2000:]}")
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            if (home / "lake" / "accounts_changes" / "_delta_log").exists():
                killed_with_output += 1
            elif os.environ.get("SLUICE_CDC_DEBUG"):
                print(worker.stderr.read().decode()[-3000:])
    finally:
        stop.set()
        writer.join()
    _drain(cdc_source, home)
    expected, last_commit = raw_changes(cdc_source)
    uri = str(home / "lake" / "accounts_changes")
    lake = DeltaTable(uri).to_pyarrow_table(columns=["_lsn", "_op"]).to_pylist()
    counts = Counter((r["_op"], r["_lsn"]) for r in lake)
    assert not [k for k, n in counts.items() if n > 1], "a change landed twice"
    assert set(counts) == {(a.lower(), lsn) for a, lsn in expected}
    assert killed_with_output > 0, "no capture committed before its kill: the kills tested nothing"
    with cdc_source.connect() as conn:
        confirmed = slots.slot_info(conn, cdc_source.slot).confirmed_lsn
    held = cdc_source.sink(home).position(cdc_source.slot)
    assert held == last_commit and confirmed is not None and confirmed <= held
