"""A TCP fault proxy on loopback: latency, bandwidth limits, connection resets, blackhole, outage.

Sluice talks to the proxy instead of the real endpoint (an S3 server, the
Prefect API, later databases and APIs); the proxy forwards bytes both ways and
injects faults while it does:

- **latency**: every forwarded chunk waits this long, in each direction;
- **bandwidth**: each connection and direction is limited to so many bytes a second;
- **resets**: a share of new connections is reset (TCP RST) once so many bytes
  went back to the client, mid-response;
- **blackhole**: connections are accepted but nothing is forwarded either way,
  so clients hang until their own timeouts;
- **down**: the endpoint is gone. New connections are refused (the listening
  socket is closed) and open ones are reset; :meth:`FaultProxy.outage` brings it
  back after N seconds on the same port.

Faults change while connections are open; each pump reads the current faults
before every chunk. Everything runs in daemon threads; :meth:`FaultProxy.stop`
closes every socket.

Example:
    >>> with FaultProxy("127.0.0.1", 9000) as proxy:
    ...     proxy.inject(latency=0.05, bandwidth=256 * 1024)
    ...     requests.get(proxy.url + "/bucket")
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import random
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ops.errors import ChaosError

logger = logging.getLogger(__name__)
CHUNK = 64 * 1024
POLL = 0.1


@dataclass(frozen=True)
class Faults:
    """What the proxy does to traffic right now; the default forwards untouched."""

    latency: float = 0.0
    bandwidth: int | None = None
    reset_probability: float = 0.0
    reset_after_bytes: int = 0
    blackhole: bool = False
    down: bool = False

    def ensure_valid(self) -> Faults:
        """Return ``self`` if every value can work, else raise ``ChaosError`` naming the bad one."""
        if self.latency < 0:
            raise ChaosError(f"latency must be >= 0 seconds, not {self.latency}")
        if self.bandwidth is not None and self.bandwidth < 1:
            raise ChaosError(f"bandwidth must be at least 1 byte/s, not {self.bandwidth}")
        if not 0.0 <= self.reset_probability <= 1.0:
            raise ChaosError(f"reset_probability must be within 0..1, not {self.reset_probability}")
        if self.reset_after_bytes < 0:
            raise ChaosError(f"reset_after_bytes must be >= 0, not {self.reset_after_bytes}")
        return self


@dataclass
class ProxyStats:
    """Counters since the proxy started."""

    connections: int = 0
    resets: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    outages: int = 0


def _reset(sock: socket.socket) -> None:
    """Close with a TCP RST rather than a FIN: the peer sees 'connection reset'."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    _close(sock)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()


@dataclass(eq=False)
class _Link:
    """One client connection and its upstream connection."""

    client: socket.socket
    upstream: socket.socket
    reset_at: int | None
    sent_down: int = 0
    pumps: int = 2
    closed: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def pump_done(self) -> None:
        """Close both sockets once neither direction has anything left to forward."""
        with self.lock:
            self.pumps -= 1
            last = self.pumps == 0
        if last:
            self.close()

    def reset(self) -> None:
        if not self.closed.is_set():
            self.closed.set()
            _reset(self.client)
            _reset(self.upstream)

    def close(self) -> None:
        if not self.closed.is_set():
            self.closed.set()
            _close(self.client)
            _close(self.upstream)


class FaultProxy:
    """Forward ``host:port`` to ``upstream_host:upstream_port``, injecting :class:`Faults`."""

    def __init__(
        self, upstream_host: str, upstream_port: int, *, host: str = "127.0.0.1", port: int = 0, seed: int | None = None
    ) -> None:
        self.upstream = (upstream_host, int(upstream_port))
        self.host, self.port = host, port
        self.stats = ProxyStats()
        self._faults = Faults()
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._links: set[_Link] = set()
        self._listener: socket.socket | None = None
        self._stopped = threading.Event()
        self._timers: list[threading.Timer] = []
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def faults(self) -> Faults:
        return self._faults

    def start(self) -> FaultProxy:
        """Listen and forward; the chosen port stays the proxy's port for its whole life."""
        self._listen()
        self._thread = threading.Thread(target=self._accept_loop, name=f"fault-proxy-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening, cancel pending restores and close every connection."""
        self._stopped.set()
        for timer in self._timers:
            timer.cancel()
        self._close_listener()
        self._drop_links(reset=False)
        if self._thread is not None:
            self._thread.join(timeout=2)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *_exc: Any) -> None:
        self.stop()

    def set_faults(self, faults: Faults) -> Faults:
        """Replace the current faults; going down resets open connections, coming back up listens again."""
        faults.ensure_valid()
        with self._lock:
            was_down, self._faults = self._faults.down, faults
        if faults.down and not was_down:
            self.stats.outages += 1
            self._close_listener()
            self._drop_links(reset=True)
        elif was_down and not faults.down and not self._stopped.is_set():
            self._listen()
        logger.info("fault proxy %s -> %s:%s now %s", self.port, *self.upstream, faults)
        return faults

    def inject(self, **changes: Any) -> Faults:
        """Change some faults and keep the others, e.g. ``inject(latency=0.2)``."""
        return self.set_faults(dataclasses.replace(self._faults, **changes))

    def heal(self) -> Faults:
        """Forward untouched again (and listen again after an outage)."""
        for timer in self._timers:
            timer.cancel()
        return self.set_faults(Faults())

    def outage(self, seconds: float) -> threading.Timer:
        """Take the endpoint down now and bring it back after ``seconds`` (other faults are kept)."""
        return self._for_seconds(seconds, "down", "an outage")

    def stall(self, seconds: float) -> threading.Timer:
        """Blackhole the endpoint now (connections open, nothing answers) and let it answer after ``seconds``."""
        return self._for_seconds(seconds, "blackhole", "a stall")

    def _for_seconds(self, seconds: float, fault: str, what: str) -> threading.Timer:
        if seconds <= 0:
            raise ChaosError(f"{what} lasts more than 0 seconds, not {seconds}")
        self.inject(**{fault: True})
        timer = threading.Timer(seconds, lambda: self.inject(**{fault: False}))
        timer.daemon = True
        self._timers.append(timer)
        timer.start()
        return timer

    # --- listening ---------------------------------------------------------------------------------

    def _listen(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            _close(sock)
            raise ChaosError(
                f"the fault proxy cannot listen on {self.host}:{self.port}: {exc}",
                hint="another process took the port during the outage; rerun the drill",
            ) from None
        sock.listen(64)
        sock.settimeout(POLL)
        self.port = sock.getsockname()[1]
        with self._lock:
            self._listener = sock

    def _close_listener(self) -> None:
        with self._lock:
            sock, self._listener = self._listener, None
        if sock is not None:
            with contextlib.suppress(OSError):  # wakes a pending accept() and stops listening at once
                sock.shutdown(socket.SHUT_RDWR)  # (a plain close may linger)
            _close(sock)

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            listener = self._listener
            if listener is None:
                time.sleep(POLL)
                continue
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:  # closed under us: an outage or stop
                continue
            self._open_link(client)

    def _open_link(self, client: socket.socket) -> None:
        faults = self._faults
        try:
            upstream = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            _reset(client)
            return
        client.setblocking(True)
        upstream.setblocking(True)
        resets = faults.reset_probability and self._random.random() < faults.reset_probability
        link = _Link(client, upstream, faults.reset_after_bytes if resets else None)
        with self._lock:
            self._links.add(link)
            self.stats.connections += 1
        for src, dst, down in ((client, upstream, False), (upstream, client, True)):
            threading.Thread(target=self._pump, args=(link, src, dst, down), daemon=True).start()

    def _drop_links(self, *, reset: bool) -> None:
        with self._lock:
            links, self._links = list(self._links), set()
        for link in links:
            link.reset() if reset else link.close()

    # --- forwarding --------------------------------------------------------------------------------

    def _pump(self, link: _Link, src: socket.socket, dst: socket.socket, down: bool) -> None:
        try:
            while not link.closed.is_set():
                readable, _, _ = select.select([src], [], [], POLL)
                if not readable:
                    continue
                faults = self._faults
                limit = CHUNK if faults.bandwidth is None else max(1, min(CHUNK, faults.bandwidth // 10))
                data = src.recv(limit)
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    return
                if faults.blackhole:
                    continue
                self._forward(link, dst, data, down, faults)
        except OSError:
            link.close()
        finally:
            link.pump_done()
            if link.closed.is_set():
                with self._lock:
                    self._links.discard(link)

    def _forward(self, link: _Link, dst: socket.socket, data: bytes, down: bool, faults: Faults) -> None:
        if faults.latency:
            time.sleep(faults.latency)
        if down and link.reset_at is not None and link.sent_down + len(data) >= link.reset_at:
            keep = max(0, link.reset_at - link.sent_down)
            if keep:
                dst.sendall(data[:keep])
            self.stats.resets += 1
            link.reset()
            return
        if down:
            link.sent_down += len(data)
            self.stats.bytes_down += len(data)
        else:
            self.stats.bytes_up += len(data)
        dst.sendall(data)
        if faults.bandwidth:
            time.sleep(len(data) / faults.bandwidth)
