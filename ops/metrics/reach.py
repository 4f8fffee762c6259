"""What the sampler reads beyond psutil: how long a request to an endpoint takes, and which Dask workers run here.

:func:`request_seconds` times one HTTP request to an endpoint the way a
client meets it (connection, request, the first bytes of the answer), so a
slow or lossy network to a source shows as a rising
``sluice_host_network_request_seconds``. :class:`DaskWorkersHere` lists the
worker processes of a Dask cluster that run on this host, for the sampler to
watch as they come (a nanny restarts a killed worker under a new pid).
"""

from __future__ import annotations

import http.client
import logging
import os
import socket
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)
REQUEST_TIMEOUT = 2.0
"""Seconds a timed request may take: a request that fails or times out counts as this long."""


def request_seconds(url: str, timeout: float = REQUEST_TIMEOUT) -> float:
    """Seconds until ``HEAD url`` answered (any status); ``timeout`` when it failed.

    A refused, reset or stalled connection is the network failing the
    client, so it reads as the longest a client waits, not as a gap.
    """
    parts = urlsplit(url)
    connection_type = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    started = time.perf_counter()
    connection = connection_type(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    try:
        connection.request("HEAD", parts.path or "/")
        connection.getresponse().read(1024)
    except (OSError, http.client.HTTPException):
        return timeout
    finally:
        connection.close()
    return min(timeout, time.perf_counter() - started)


def _local_hosts() -> set[str]:
    name = socket.gethostname()
    try:
        address = socket.gethostbyname(name)
    except OSError:
        address = "127.0.0.1"
    return {"127.0.0.1", "localhost", name, address}


class DaskWorkersHere:
    """Called, answers ``worker address -> pid`` of the workers of the Dask cluster at ``address`` on this host,
    as last found.

    A thread of its own asks the cluster every ``every`` seconds, so the
    sampler never waits on it: asking every worker for its pid blocks until
    the scheduler has given up on a worker that was just killed, and a
    sampler blocked that long would record nothing of the kill. While the
    scheduler cannot be reached the answer is empty. :meth:`close` stops it.
    """

    def __init__(self, address: str, every: float = 1.0) -> None:
        self.address = address
        self.every = every
        self.found: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __call__(self) -> Mapping[str, int]:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sluice-dask-workers", daemon=True)
            self._thread.start()
        return dict(self.found)

    def _run(self) -> None:
        from distributed import Client

        client: Any = None
        try:
            while not self._stop.is_set():
                try:
                    if client is None:
                        client = Client(self.address, timeout=5, set_as_default=False)  # type: ignore[no-untyped-call]
                    self.found = _here(client.run(os.getpid, on_error="return"))
                except Exception as exc:  # noqa: BLE001 - the sampler must outlive its cluster
                    logger.debug("no Dask workers from %s: %s", self.address, exc)
                    self.found = {}
                self._stop.wait(self.every)
        finally:
            if client is not None:
                client.close()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None


def _here(pids: Mapping[str, Any]) -> dict[str, int]:
    """The workers among ``pids`` (address -> pid, or the error a worker answered) that run on this host."""
    here = _local_hosts()
    return {
        worker: pid
        for worker, pid in pids.items()
        if isinstance(pid, int) and worker.split("://", 1)[-1].rsplit(":", 1)[0] in here
    }
