"""A real Prometheus server for the session, scraping the sampler's exporter every second.

The ``prometheus`` binary is required: CI installs the Debian package
``prometheus``. Without it the tests that need the server fail (they do not skip).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ops.metrics.sampler import Exporter, start_exporter

BINARY_ENV = "SLUICE_TEST_PROMETHEUS"
SCRAPED_METRIC = "sluice_host_memory_used_bytes"
MIN_SCRAPES = 3


@dataclass(frozen=True)
class PrometheusServer:
    url: str
    exporter: Exporter


def _binary() -> str:
    configured = os.environ.get(BINARY_ENV)
    candidates = [configured] if configured else [shutil.which("prometheus"), "/usr/bin/prometheus"]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail(
        f"the prometheus binary is missing{f' at {configured}' if configured else ''}: install it with "
        f"`apt-get install -y prometheus` (Debian/Ubuntu) or point {BINARY_ENV} at it",
        pytrace=False,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(folder: Path, target_port: int) -> Path:
    config = folder / "prometheus.yml"
    config.write_text(f"""\
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: sluice
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs:
      - targets: ["127.0.0.1:{target_port}"]
""")
    return config


def _wait_for(check, what: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"prometheus exited with {process.returncode} before {what}:\n{log.read_text()[-2000:]}", pytrace=False
            )
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    pytest.fail(f"prometheus: no {what} after {timeout:.0f}s:\n{log.read_text()[-2000:]}", pytrace=False)


def _scrapes(url: str) -> int:
    reply = httpx.get(f"{url}/api/v1/query", params={"query": f"count_over_time({SCRAPED_METRIC}[1m])"}, timeout=5)
    result = reply.json()["data"]["result"]
    return int(float(result[0]["value"][1])) if result else 0


@contextmanager
def scraping(folder: Path, target_port: int) -> Iterator[str]:
    """A Prometheus server scraping ``127.0.0.1:target_port`` every second, storing under ``folder``; yields its URL.

    It is ready once it has scraped the target ``MIN_SCRAPES`` times; it is stopped on exit.
    """
    binary = _binary()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = folder / "prometheus.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={_config(folder, target_port)}",
                f"--storage.tsdb.path={folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for(lambda: httpx.get(f"{url}/-/ready", timeout=2).status_code == 200, "readiness", process, log)
        _wait_for(lambda: _scrapes(url) >= MIN_SCRAPES, f"{MIN_SCRAPES} scrapes", process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    folder = tmp_path_factory.mktemp("prometheus")
    exporter = start_exporter(0, labels={"environment": "test"}, processes={"pytest": os.getpid()})
    try:
        with scraping(folder, exporter.port) as url:
            yield PrometheusServer(url, exporter)
    finally:
        exporter.close()
