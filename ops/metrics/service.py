"""The background sampler: host metrics every few seconds, whether a run is going or not.

A run's own sampler (:mod:`flows.observe`) only reads while the run runs, so a
run that fails at once leaves nothing behind it. This service samples the host
(``sluice_host_*``: CPU, memory, disk and network; labelled ``host`` and
``environment``, no ``dataset`` or ``flow``) every
``SLUICE_METRICS_SERVICE_SECONDS`` (5 s) into the metrics store, and every
12 samples (a minute at 5 s) derives the pipeline metrics of the last hour's
runs from the metadata store
(:func:`~ops.metrics.collect.collect_pipeline_metrics`), so that ``ops
correlate``, ``ops baseline fit`` and ``ops alerts check`` have history behind
every failure.

``make run`` starts it (``SLUICE_METRICS_SERVICE=false`` does not). It runs
detached as ``python -m ops.metrics.service``, writes its process id to
``$SLUICE_HOME/metrics-sampler.pid`` and its log to
``$SLUICE_HOME/metrics-sampler.log``; ``ops metrics sampler stop`` (or
``kill $(cat .sluice/metrics-sampler.pid)``) stops it, writing what it read
last. One runs per home: starting it again finds the running one.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psutil

from ops.metrics.errors import MetricsError
from ops.metrics.sampler import Sampler
from ops.metrics.store import MetricsStore, open_store
from sluice.settings import MetricsBackend, Settings, get_settings

logger = logging.getLogger(__name__)
MODULE = "ops.metrics.service"
PID_FILE = "metrics-sampler.pid"
LOG_FILE = "metrics-sampler.log"
PIPELINE_EVERY = 12
"""Every this many host samples (a minute at the default 5 s) the service derives pipeline metrics from run records."""
PIPELINE_LOOKBACK = timedelta(hours=1)


@dataclass(frozen=True)
class ServiceStatus:
    """The background sampler of one home: its process (None when it is not running) and its files."""

    pid: int | None
    started: bool
    pid_file: Path
    log: Path
    interval: float


def pid_path(home: Path) -> Path:
    return home / PID_FILE


def log_path(home: Path) -> Path:
    return home / LOG_FILE


def running_pid(home: Path) -> int | None:
    """The process id of this home's running sampler service, or None (a stale pid file counts as none)."""
    try:
        pid = int(pid_path(home).read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        cmdline = psutil.Process(pid).cmdline()
    except psutil.Error:
        return None
    return pid if MODULE in cmdline else None


def ensure_embedded(settings: Settings) -> None:
    """The service writes to the embedded store; with the Prometheus backend, Prometheus scrapes instead."""
    if settings.metrics.metrics_backend is MetricsBackend.PROMETHEUS:
        raise MetricsError(
            "the sampler service writes to the embedded store; Prometheus scrapes instead",
            hint="serve the exporter (`ops metrics serve`) or set SLUICE_METRICS_BACKEND=embedded",
        )


def start_service(home: Path, settings: Settings | None = None) -> ServiceStatus:
    """Start the sampler service for ``home`` in the background, unless one runs there already.

    Raises:
        MetricsError: the backend is Prometheus, or the service exited at once (its log says why).
    """
    settings = settings or get_settings()
    ensure_embedded(settings)
    home = home.resolve()
    interval = settings.metrics.metrics_service_seconds
    found = running_pid(home)
    if found is not None:
        return ServiceStatus(found, False, pid_path(home), log_path(home), interval)
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SLUICE_HOME": str(home)}
    with log_path(home).open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", MODULE],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives `make run` and its Ctrl-C
        )
    pid_path(home).write_text(f"{process.pid}\n")
    try:
        code = process.wait(timeout=1.0)
    except subprocess.TimeoutExpired:
        return ServiceStatus(process.pid, True, pid_path(home), log_path(home), interval)
    pid_path(home).unlink(missing_ok=True)
    raise MetricsError(f"the metrics sampler service exited at once (code {code})", hint=f"read {log_path(home)}")


def stop_service(home: Path, timeout: float = 10.0) -> int | None:
    """Stop ``home``'s sampler service; returns its pid, or None when none was running."""
    home = home.resolve()
    pid = running_pid(home)
    if pid is None:
        pid_path(home).unlink(missing_ok=True)
        return None
    process = psutil.Process(pid)
    process.terminate()
    try:
        process.wait(timeout)
    except psutil.TimeoutExpired:
        process.kill()
    pid_path(home).unlink(missing_ok=True)
    return pid


def _collect_pipeline(store: MetricsStore, settings: Settings) -> None:
    from ops.metrics.collect import collect_pipeline_metrics
    from sluice.runs.metastore import engine_for

    now = datetime.now(timezone.utc)
    try:
        with engine_for(settings.metadata_db_url()).connect() as conn:
            written = collect_pipeline_metrics(conn, store, since=now - PIPELINE_LOOKBACK, now=now)
    except Exception:  # a sampler must outlive an unreachable metadata store
        logger.exception("could not collect pipeline metrics")
        return
    logger.info("collected %d pipeline samples", written)


def serve(settings: Settings, stop: threading.Event) -> int:
    """Sample the host into the store until ``stop`` is set; returns the samples written.

    Raises:
        MetricsError: the backend is Prometheus, which scrapes the exporter instead.
    """
    metrics = settings.metrics
    ensure_embedded(settings)
    store = open_store(metrics, home=settings.home)
    interval = metrics.metrics_service_seconds
    labels = {"environment": settings.env}
    home = str(settings.home)
    sampler = Sampler(store, interval=interval, labels=labels, flush_interval=interval, filesystems={"home": home})
    logger.info("sampling the host every %g s into %s", interval, store.location)
    with sampler:
        while not stop.is_set():
            _collect_pipeline(store, settings)
            stop.wait(interval * PIPELINE_EVERY)
    logger.info("stopped after %d samples (%d failed writes)", sampler.written, sampler.failed_writes)
    return sampler.written


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        serve(get_settings(), stop)
    except MetricsError as exc:
        logger.error("%s (%s)", exc, exc.hint)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
