"""Host and process metrics from psutil: sampled into a store, or served to Prometheus.

Metrics (every one labelled ``host`` plus the labels given; process metrics also ``worker``):

=========================================== ======= ==========================================
``sluice_host_cpu_percent``                 gauge   CPU busy share since the previous reading
``sluice_host_cpu_runnable_per_core``       gauge   tasks running or waiting for a CPU, per core (Linux)
``sluice_host_memory_used_bytes``           gauge   memory in use
``sluice_host_memory_percent``              gauge   memory in use, percent of the total
``sluice_host_network_sent_bytes_total``    counter bytes sent on every interface
``sluice_host_network_received_bytes_total`` counter bytes received on every interface
``sluice_host_disk_read_bytes_total``       counter bytes read from every disk (when the OS tells)
``sluice_host_disk_written_bytes_total``    counter bytes written to every disk (when the OS tells)
``sluice_process_rss_bytes``                gauge   resident memory of a watched process
``sluice_process_cpu_percent``              gauge   CPU of a watched process since its previous reading
``sluice_host_workers_lost``                gauge   watched processes that went away in the last minute
``sluice_host_network_request_seconds``     gauge   one request to a watched endpoint (``endpoint``)
=========================================== ======= ==========================================

:class:`Sampler` reads them every ``interval`` seconds in a background thread and
writes batches to a :class:`~ops.metrics.store.MetricsStore`; :func:`start_exporter`
serves the same metrics on ``/metrics`` for Prometheus to scrape, read at each scrape.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import TracebackType
from typing import Protocol
from wsgiref.simple_server import WSGIServer

import psutil
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from ops.metrics.errors import MetricsError
from ops.metrics.models import Sample
from ops.metrics.reach import request_seconds
from ops.metrics.specs import (
    DISK_READ,
    DISK_USED,
    DISK_WRITTEN,
    HOST_CPU,
    HOST_CPU_RUNNABLE,
    HOST_MEMORY_PERCENT,
    HOST_MEMORY_USED,
    LOST_WINDOW,
    NET_RECEIVED,
    NET_REQUEST,
    NET_SENT,
    PROCESS_CPU,
    PROCESS_RSS,
    SPECS,
    WORKERS_LOST,
    Kind,
)
from ops.metrics.store import MetricsStore

logger = logging.getLogger(__name__)


def _runnable_per_core() -> float | None:
    """Tasks running or runnable now per core (``procs_running`` of /proc/stat), or None off Linux."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            found = next((line for line in handle if line.startswith("procs_running ")), None)
    except OSError:
        return None
    if found is None:
        return None
    return int(found.split()[1]) / (psutil.cpu_count() or 1)


def _busy_and_total() -> tuple[float, float]:
    """CPU seconds of the host busy and in total, counted as psutil counts them."""
    times: dict[str, float] = psutil.cpu_times()._asdict()
    total = sum(times.values())
    if sys.platform.startswith("linux"):  # guest time is already part of user and nice time
        total -= times.get("guest", 0.0) + times.get("guest_nice", 0.0)
    return total - times["idle"] - times.get("iowait", 0.0), total


class Probe:
    """Reads the host and the watched processes. Each probe keeps its own CPU baselines,
    so a sampler and an exporter in one process do not disturb each other's percentages.

    Args:
        labels: labels added to every sample (``environment``, ``deployment``...); ``host`` defaults to this host.
        processes: worker name -> pid of processes to watch (Dask workers, say).
        filesystems: name -> a path on each filesystem whose used share to read (``filesystem=name``);
            a path that does not exist (yet) is left out of that reading.
        endpoints: name -> an HTTP URL to time one request to at every reading (``endpoint=name``).
    """

    def __init__(
        self,
        labels: Mapping[str, str] | None = None,
        processes: Mapping[str, int] | None = None,
        filesystems: Mapping[str, str] | None = None,
        endpoints: Mapping[str, str] | None = None,
    ) -> None:
        self.labels = {"host": socket.gethostname(), **(labels or {})}
        self.filesystems = dict(filesystems or {})
        self.endpoints = dict(endpoints or {})
        self._lost: list[float] = []  # when each watched process was found gone (monotonic seconds)
        self._cpu = _busy_and_total()
        self._processes: dict[str, psutil.Process] = {}
        self._lock = threading.Lock()
        for name, pid in (processes or {}).items():
            self.watch(name, pid)

    def watch(self, name: str, pid: int) -> None:
        """Also read the process ``pid``, labelled ``worker=name``."""
        process = psutil.Process(pid)
        process.cpu_percent(None)  # the first call only sets the baseline
        with self._lock:
            self._processes[name] = process

    def read(self, now: datetime | None = None) -> list[Sample]:
        """One reading of every metric, stamped ``now``."""
        now = now or datetime.now(timezone.utc)
        with self._lock:
            values = self._host_values()
            samples = [Sample(name, self.labels, now, value) for name, value in values.items()]
            samples += self._filesystem_samples(now)
            samples += self._process_samples(now)
            if self._processes or self._lost:
                self._lost = [t for t in self._lost if time.monotonic() - t < LOST_WINDOW]
                samples.append(Sample(WORKERS_LOST.name, self.labels, now, float(len(self._lost))))
        samples += [
            Sample(NET_REQUEST.name, {**self.labels, "endpoint": name}, now, request_seconds(url))
            for name, url in self.endpoints.items()
        ]
        return samples

    def _host_values(self) -> dict[str, float]:
        busy, total = _busy_and_total()
        spent = total - self._cpu[1]
        cpu = min(100.0, max(0.0, 100.0 * (busy - self._cpu[0]) / spent)) if spent > 0 else 0.0
        self._cpu = (busy, total)
        memory = psutil.virtual_memory()
        net = psutil.net_io_counters()
        values = {
            HOST_CPU.name: cpu,
            HOST_MEMORY_USED.name: memory.used,
            HOST_MEMORY_PERCENT.name: memory.percent,
            NET_SENT.name: net.bytes_sent,
            NET_RECEIVED.name: net.bytes_recv,
        }
        runnable = _runnable_per_core()
        if runnable is not None:
            values[HOST_CPU_RUNNABLE.name] = runnable
        disk = psutil.disk_io_counters()
        if disk is not None:  # None in some containers
            values |= {DISK_READ.name: disk.read_bytes, DISK_WRITTEN.name: disk.write_bytes}
        return values

    def _filesystem_samples(self, now: datetime) -> list[Sample]:
        samples = []
        for name, path in self.filesystems.items():
            try:
                used = psutil.disk_usage(path).percent
            except OSError:
                continue
            samples.append(Sample(DISK_USED.name, {**self.labels, "filesystem": name}, now, used))
        return samples

    def _process_samples(self, now: datetime) -> list[Sample]:
        samples = []
        for name, process in list(self._processes.items()):
            try:
                with process.oneshot():
                    rss, cpu = process.memory_info().rss, process.cpu_percent(None)
            except (psutil.NoSuchProcess, psutil.AccessDenied) as exc:
                logger.info("no longer watching worker %s (pid %s): %s", name, process.pid, type(exc).__name__)
                del self._processes[name]
                if isinstance(exc, psutil.NoSuchProcess):
                    self._lost.append(time.monotonic())
                continue
            labels = {**self.labels, "worker": name}
            samples += [Sample(PROCESS_RSS.name, labels, now, rss), Sample(PROCESS_CPU.name, labels, now, cpu)]
        return samples


class _DaskClient(Protocol):
    def run(self, function: object) -> dict[str, int]: ...


def dask_worker_processes(client: _DaskClient) -> dict[str, int]:
    """Worker address -> pid of every worker of a Dask cluster whose workers run on this host."""
    import os

    return client.run(os.getpid)


def is_worker_process(cmdline: list[str]) -> bool:
    """Whether a command line is a Dask worker or nanny, or a multiprocessing child running one."""
    text = " ".join(cmdline)
    return "spawn_main" in text or "distributed" in text or "dask" in text


@dataclass
class Sampler:
    """Reads a :class:`Probe` every ``interval`` seconds in a thread and writes batches to ``store``.

    Example:
        >>> with Sampler(store, interval=1.0, labels={"environment": "dev"}):
        ...     run_the_pipeline()

    A failed write is logged and its batch dropped; sampling goes on.
    """

    store: MetricsStore
    interval: float = 1.0
    labels: Mapping[str, str] = field(default_factory=dict)
    processes: Mapping[str, int] = field(default_factory=dict)
    flush_interval: float = 10.0
    filesystems: Mapping[str, str] = field(default_factory=dict)
    watch_children: bool = False
    discover: Callable[[], Mapping[str, int]] | None = None
    """Called at every reading: worker name -> pid of processes to watch from then on (Dask workers, say)."""
    endpoints: Mapping[str, str] = field(default_factory=dict)
    written: int = field(default=0, init=False)
    failed_writes: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.interval <= 0:
            raise MetricsError(f"sampling interval must be positive, not {self.interval}")
        self.probe = Probe(self.labels, self.processes, self.filesystems, self.endpoints)
        self.adopted: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Sampler:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        if self._thread is not None:
            raise MetricsError("this sampler is already running")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sluice-metrics-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling and write what was read since the last batch."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None

    def _run(self) -> None:
        batch: list[Sample] = []
        last_flush = time.monotonic()
        while not self._stop.wait(self.interval):
            if self.watch_children:
                self._adopt_children()
            if self.discover is not None:
                self._adopt(self.discover())
            batch += self.probe.read()
            if time.monotonic() - last_flush >= self.flush_interval:
                self._flush(batch)
                batch, last_flush = [], time.monotonic()
        self._flush(batch)

    def _adopt_children(self) -> None:
        """Watch new worker processes among this process's descendants (a LocalCluster's nannies and workers)."""
        try:
            children = psutil.Process().children(recursive=True)
        except psutil.Error:
            return
        for child in children:
            name = f"pid-{child.pid}"
            if name in self.adopted:
                continue
            self.adopted.add(name)
            try:
                if is_worker_process(child.cmdline()):
                    self.probe.watch(name, child.pid)
            except psutil.Error:
                continue

    def _adopt(self, found: Mapping[str, int]) -> None:
        """Watch each newly found process (by name) from now on."""
        for name, pid in found.items():
            if name in self.adopted:
                continue
            self.adopted.add(name)
            try:
                self.probe.watch(name, pid)
            except psutil.Error:
                continue

    def _flush(self, batch: list[Sample]) -> None:
        if not batch:
            return
        try:
            self.written += self.store.write(batch)
        except Exception:  # a sampler must outlive a full disk or an unreachable store
            self.failed_writes += 1
            logger.exception("could not write %d metric samples to %s", len(batch), self.store.location)


class ProbeCollector(Collector):
    """A ``prometheus_client`` collector that reads a :class:`Probe` at every scrape."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe

    def collect(self) -> Iterator[Metric]:
        by_name: dict[str, list[Sample]] = {}
        for sample in self.probe.read():
            by_name.setdefault(sample.metric, []).append(sample)
        for name, samples in by_name.items():
            spec = SPECS[name]
            label_names = sorted({k for s in samples for k in s.labels})
            family_type = CounterMetricFamily if spec.kind is Kind.COUNTER else GaugeMetricFamily
            family = family_type(name, spec.help, labels=label_names)
            for s in samples:
                family.add_metric([s.labels.get(k, "") for k in label_names], s.value)
            yield family


@dataclass
class Exporter:
    """A running ``/metrics`` endpoint; :meth:`close` stops it."""

    url: str
    port: int
    registry: CollectorRegistry
    collector: ProbeCollector
    _server: WSGIServer
    _thread: threading.Thread

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self.registry.unregister(self.collector)

    def __enter__(self) -> Exporter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def start_exporter(
    port: int = 0,
    registry: CollectorRegistry | None = None,
    *,
    addr: str = "127.0.0.1",
    labels: Mapping[str, str] | None = None,
    processes: Mapping[str, int] | None = None,
) -> Exporter:
    """Serve the sampler's metrics on ``http://addr:port/metrics``, read afresh at each scrape.

    Args:
        port: the port; 0 picks a free one (see ``Exporter.port``).
        registry: the registry to serve; a new one when omitted, so the default registry stays untouched.
        addr: the address to listen on; loopback unless Prometheus scrapes from another host.
        labels: labels added to every metric.
        processes: worker name -> pid of processes to report.

    Raises:
        MetricsError: the port cannot be bound.
    """
    from prometheus_client import start_http_server

    registry = registry or CollectorRegistry(auto_describe=False)
    collector = ProbeCollector(Probe(labels, processes))
    registry.register(collector)
    try:
        server, thread = start_http_server(port, addr=addr, registry=registry)
    except OSError as exc:
        registry.unregister(collector)
        raise MetricsError(
            f"cannot serve metrics on {addr}:{port}: {exc.strerror or exc}",
            hint="pick another port, or 0 for any free one",
        ) from None
    bound = server.server_port
    return Exporter(f"http://{addr}:{bound}/metrics", bound, registry, collector, server, thread)
