"""What the sampler reads beyond psutil: a lost worker process, a request to an endpoint, a cluster's workers."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ops.metrics.reach import DaskWorkersHere, request_seconds
from ops.metrics.sampler import NET_REQUEST, WORKERS_LOST, Probe


class _Slow(BaseHTTPRequestHandler):
    delay = 0.0

    def do_HEAD(self) -> None:
        time.sleep(self.delay)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@contextmanager
def http_server(delay: float) -> Iterator[str]:
    handler = type("Slow", (_Slow,), {"delay": delay})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/bucket"
    finally:
        server.shutdown()
        server.server_close()


def test_a_request_reads_as_long_as_the_endpoint_takes_to_answer():
    with http_server(0.0) as fast_url, http_server(0.3) as slow_url:
        fast, slow = request_seconds(fast_url), request_seconds(slow_url)

    assert 0 < fast < 0.3 <= slow < 2.0


def test_a_refused_connection_reads_as_the_timeout_not_as_a_gap():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # bound, not listening: connections are refused

        assert request_seconds(f"http://127.0.0.1:{port}/", timeout=0.5) == 0.5


def test_the_probe_times_each_endpoint_with_its_name():
    with http_server(0.05) as url:
        found = [s for s in Probe(endpoints={"source": url}).read() if s.metric == NET_REQUEST.name]

    assert [s.labels["endpoint"] for s in found] == ["source"] and found[0].value >= 0.05


def test_a_watched_process_that_dies_counts_as_lost_and_the_count_starts_at_zero():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    probe = Probe(processes={"doomed": child.pid})
    before = [s.value for s in probe.read() if s.metric == WORKERS_LOST.name]
    child.kill()
    child.wait()

    after = [s.value for s in probe.read() if s.metric == WORKERS_LOST.name]
    again = [s.value for s in probe.read() if s.metric == WORKERS_LOST.name]

    assert before == [0.0] and after == [1.0] and again == [1.0]


def test_a_probe_watching_no_process_reports_no_loss():
    assert not [s for s in Probe().read() if s.metric == WORKERS_LOST.name]


def test_the_workers_of_a_local_cluster_are_found_with_their_pids(dask_address):
    import psutil

    workers = DaskWorkersHere(dask_address, every=0.2)
    try:
        assert workers() == {}  # the first call starts the search and never waits for it
        deadline = time.monotonic() + 30
        while not (found := workers()) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        workers.close()

    assert len(found) == 2 and all(psutil.pid_exists(pid) for pid in found.values())
    assert all(address.startswith("tcp://127.0.0.1:") for address in found)


def test_an_unreachable_scheduler_yields_no_workers():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        workers = DaskWorkersHere(f"tcp://127.0.0.1:{unused.getsockname()[1]}", every=0.2)
        try:
            workers()
            time.sleep(1.0)
            assert workers() == {}
        finally:
            workers.close()
