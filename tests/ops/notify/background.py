"""Helpers for tests with background deliverers: outages to stage, waiting for the outbox, stopping processes."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import Engine

from ops.notify import background
from ops.notify.background import DelivererLock
from tests.ops.notify.factories import rows
from tests.standins.pagerduty_slack import FakeService, Reply, pagerduty_ok

OUTAGES = ("refused", "black-holed", "throttled")
RETRY_AFTER = "3"  # longer than a caller may take: a caller that waited it out would fail the 2 s bound


def eventually(check: Callable[[], bool], what: str, within: float = 90.0) -> None:
    """Wait until ``check()`` holds; fail saying ``what`` did not happen (a bound against hangs, not a timing)."""
    give_up = time.monotonic() + within
    while not check():
        if time.monotonic() > give_up:
            raise AssertionError(f"{what} did not happen within {within:g} s")
        time.sleep(0.1)


class Outage:
    """PagerDuty refusing connections, accepting them and never answering, or answering 429 with Retry-After."""

    def __init__(self, kind: str, service: FakeService) -> None:
        self.kind, self.service = kind, service
        self._hole: socket.socket | None = None
        if kind == "throttled":
            service.default = lambda _: Reply(429, {"status": "throttle"}, {"Retry-After": RETRY_AFTER})
            return
        service.stop()
        if kind == "black-holed":  # listens, so connections complete, but nothing ever reads or answers
            self._hole = socket.socket()
            self._hole.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._hole.bind(("127.0.0.1", service.port))
            self._hole.listen(64)

    def end(self) -> None:
        if self.kind == "throttled":
            self.service.default = pagerduty_ok
            return
        if self._hole is not None:
            self._hole.close()
        self.service.start()


def all_sent(engine: Engine) -> bool:
    stored = rows(engine)
    return bool(stored) and all(r.status == "sent" for r in stored)


def live_deliverers() -> set[int]:
    """The pids of the deliverers this process started that still run (looking takes no lock)."""
    return {child.pid for child in background._children if child.poll() is None}


def lock_holders(run: Path) -> set[int]:
    """The pids holding a deliverer lock in ``run`` (looking takes a free lock for a moment)."""
    return {holder for lock in run.glob("*.lock") if (holder := DelivererLock(lock).holder())}


def _is_deliverer(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return b"ops.notify.background" in Path(f"/proc/{pid}/cmdline").read_bytes()
    return False


def stop_deliverers(run: Path) -> None:
    """Stop every deliverer this process started and every one holding a lock in ``run``: SIGTERM, then
    SIGKILL for one still running after 30 s; each is reaped."""
    ours = [child for child in background._children if child.poll() is None]
    others = {pid for pid in lock_holders(run) if _is_deliverer(pid)} - {child.pid for child in ours}
    for pid in [child.pid for child in ours] + sorted(others):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    give_up = time.monotonic() + 30
    for child in ours:
        try:
            child.wait(max(0.1, give_up - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    for pid in others:
        while _is_deliverer(pid) and time.monotonic() < give_up:
            time.sleep(0.1)
        if _is_deliverer(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    background._reap()
    left = {child.pid: _cmdline(child.pid) for child in background._children}
    assert not left, f"deliverers still running after the test: {left}"


def _cmdline(pid: int) -> bytes:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    return b"?"
