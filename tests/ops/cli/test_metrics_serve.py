"""``ops metrics serve``: the store's pipeline metrics and the host metrics on /metrics, in a real process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.ops.factories import invoke, run_report, save_runs, sluice_home

ROOT = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _scrape(url: str, process: subprocess.Popen[str]) -> str:
    for _ in range(120):
        assert process.poll() is None, process.communicate()
        try:
            return httpx.get(url, timeout=2).text
        except httpx.HTTPError:
            time.sleep(0.25)
    raise AssertionError(f"nothing served at {url}")


def test_serve_exposes_the_collected_runs_until_interrupted(monkeypatch, tmp_path):
    settings = sluice_home(monkeypatch, tmp_path)
    save_runs(settings, run_report("a", started_at=datetime.now(timezone.utc) - timedelta(minutes=10), rows_written=7))
    assert invoke("metrics", "collect").exit_code == 0
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SLUICE_HOME": str(settings.home)}
    process = subprocess.Popen(
        [sys.executable, "-c", "from ops.cli import main; main()", "metrics", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        text = _scrape(f"http://127.0.0.1:{port}/metrics", process)
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)

    families = {f.name: f for f in text_string_to_metric_families(text)}
    [written] = families["sluice_rows_written"].samples
    assert written.value == 7.0 and written.labels == {
        "dataset": "orders",
        "flow": "ingest-files",
        "environment": "dev",
    }
    assert "sluice_host_memory_used_bytes" in families
    assert process.returncode == 0, err
    assert f"serving http://127.0.0.1:{port}/metrics" in out


def test_serve_refuses_a_bad_window_and_the_prometheus_backend(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)
    bad = invoke("metrics", "serve", "--port", "0", "--window", "soon")

    sluice_home(monkeypatch, tmp_path, metrics_backend="prometheus")
    prometheus = invoke("metrics", "serve", "--port", "0")

    assert bad.exit_code != 0 and "invalid duration 'soon'" in bad.output
    assert prometheus.exit_code == 1 and "only the embedded store is served" in prometheus.output
