"""The TCP fault proxy against a real loopback server: latency, bandwidth, resets, blackhole, outage."""

from __future__ import annotations

import socket
import socketserver
import threading
import time

import pytest

from chaos.proxy import FaultProxy, Faults
from ops.errors import ChaosError

PAYLOAD = b"x" * 200_000


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        if self.request.recv(16):
            self.request.sendall(PAYLOAD)


@pytest.fixture(scope="module")
def upstream():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address
    server.shutdown()


@pytest.fixture()
def proxy(upstream):
    with FaultProxy(*upstream) as p:
        yield p


def fetch(proxy: FaultProxy, timeout: float = 5) -> bytes:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=timeout) as sock:
        sock.sendall(b"get")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
            if sum(map(len, chunks)) >= len(PAYLOAD):
                break
        return b"".join(chunks)


def test_forwards_untouched_by_default(proxy):
    assert fetch(proxy) == PAYLOAD
    assert proxy.stats.bytes_down == len(PAYLOAD)


def test_latency_and_bandwidth_slow_the_transfer(proxy):
    proxy.inject(latency=0.05, bandwidth=400_000)
    started = time.monotonic()

    assert fetch(proxy) == PAYLOAD
    assert time.monotonic() - started >= 0.45  # 200 kB at 400 kB/s


def test_a_reset_cuts_the_response_midway(proxy):
    proxy.inject(reset_probability=1.0, reset_after_bytes=1000)

    try:
        data = fetch(proxy)
    except ConnectionResetError:
        data = b""

    assert len(data) < len(PAYLOAD)
    assert proxy.stats.resets == 1


def test_blackhole_accepts_but_never_answers(proxy):
    proxy.inject(blackhole=True)

    with pytest.raises(TimeoutError):
        fetch(proxy, timeout=0.5)


def test_an_outage_refuses_connections_then_the_endpoint_comes_back_on_the_same_port(proxy):
    port = proxy.port
    proxy.outage(0.5)

    with pytest.raises(ConnectionRefusedError):
        fetch(proxy)
    time.sleep(0.8)
    assert proxy.port == port and fetch(proxy) == PAYLOAD


def test_a_stall_answers_nothing_then_the_endpoint_answers_again(proxy):
    proxy.stall(0.5)

    with pytest.raises(TimeoutError):
        fetch(proxy, timeout=0.3)
    time.sleep(0.5)
    assert proxy.faults == Faults() and fetch(proxy) == PAYLOAD


def test_heal_ends_every_fault(proxy):
    proxy.inject(blackhole=True, latency=1.0)
    proxy.heal()

    assert proxy.faults == Faults() and fetch(proxy) == PAYLOAD


@pytest.mark.parametrize("bad", [{"latency": -1}, {"bandwidth": 0}, {"reset_probability": 2.0}])
def test_impossible_faults_are_refused_with_the_value_named(proxy, bad):
    with pytest.raises(ChaosError, match=next(iter(bad))):
        proxy.inject(**bad)
