"""Who delivers what, and when: incident changes never wait for PagerDuty or Slack.

**The process that changes an incident** (``ops incident open|ack|mitigate|
resolve|note``, a flow's failure hook, the alert sink) commits the change with
its notifications queued, then calls :func:`deliver_soon`: one bounded pass
(:func:`~ops.notify.delivery.deliver_pending` with ``bounded=True``) in a
helper thread that the caller waits for at most ``notify_attempt_budget`` +
``notify_attempt_timeout`` seconds, so not even a hanging DNS lookup holds
it. If anything is left to send, it starts a background deliverer
(:func:`ensure_background`) and returns.

**The background deliverer** is a detached process (``python -m
ops.notify.background``, in a session of its own, so it outlives a CLI
command or a flow run) holding the store's lock in ``notify_run_dir``: at most
one runs per store on a host. It makes full passes (retries with backoff,
``Retry-After`` waited out or rescheduled) whenever a notification is due,
polling at least every ``notify_poll_seconds``, and exits when the outbox
holds nothing left to send, or after ``notify_background_seconds``. Its log
is ``deliverer-<store>.log`` next to the lock. It reads the store's URL from
its standard input, so a password never shows in a process listing.

**``ops notify serve``** runs the same loop in the foreground for a service
manager and does not stop on an empty outbox; while it holds the lock no
detached deliverer starts on its host. **``ops notify flush``** makes one full
pass now, including notifications whose next attempt is not due yet.

**When no process is left** (the deliverer gave up, the host rebooted),
notifications wait in the outbox: the next incident change or flow failure
on any host makes its bounded pass over what is due and starts a deliverer
again; ``ops notify flush`` sends them at once. Every deliverer, on any host,
goes through the outbox's claims, so each notification is sent once and in
order whichever process sends it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import math
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import SQLAlchemyError

from ops.notify.delivery import DeliveryReport, deliver_pending
from ops.notify.outbox import open_rows
from sluice.settings import NotifySettings, get_settings

logger = logging.getLogger("ops.notify")
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
BOOT = "import sys; sys.path.append(sys.argv[1]); from ops.notify.background import main; raise SystemExit(main())"
IDLE_FLOOR = 0.1  # seconds: the shortest wait after a pass that sent nothing
_children: list[subprocess.Popen[bytes]] = []


def store_key(url: URL) -> str:
    """A short name for the store at ``url`` (without its password), for lock and log file names."""
    return hashlib.sha256(url.render_as_string(hide_password=True).encode()).hexdigest()[:16]


class DelivererLock:
    """An exclusive ``flock`` on ``<run dir>/deliverer-<store>.lock`` that holds its owner's pid.

    The kernel drops it when its process ends, however it ends, so a crashed
    deliverer never blocks the next one.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @classmethod
    def of(cls, url: URL, settings: NotifySettings) -> DelivererLock:
        return cls(settings.run_dir() / f"deliverer-{store_key(url)}.lock")

    def _open(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)

    def acquire(self) -> bool:
        """Take the lock without waiting; ``False`` when another process has it."""
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def holder(self) -> int | None:
        """The pid of the process holding the lock, or ``None`` when it is free."""
        if self.acquire():
            self.release()
            return None
        with contextlib.suppress(OSError, ValueError):
            return int(self.path.read_text().strip() or 0) or None
        return None


def _reap() -> None:
    """Collect deliverers this process started that have ended (no zombies in a long-lived process)."""
    _children[:] = [child for child in _children if child.poll() is None]


def _reachable_elsewhere(url: URL) -> bool:
    """Whether another process can open the store (not an in-memory SQLite database)."""
    return not (url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"))


def ensure_background(engine: Engine, settings: NotifySettings | None = None) -> int | None:
    """Start a detached deliverer for ``engine``'s store unless one runs; the new process's pid, if any."""
    settings = settings or get_settings().notify
    if not settings.notify_background or not _reachable_elsewhere(engine.url):
        return None
    lock = DelivererLock.of(engine.url, settings)
    log = lock.path.with_suffix(".log")
    try:
        if lock.holder() is not None:
            return None
        _reap()
        with open(log, "ab") as out:
            child = subprocess.Popen(
                [sys.executable, "-c", BOOT, PACKAGE_ROOT],
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=out,
                start_new_session=True,
                close_fds=True,
            )
    except OSError as exc:  # an unwritable run folder, no processes left: the outbox keeps everything
        logger.warning(
            "could not start a background notification deliverer (%s: %s); set SLUICE_NOTIFY_RUN_DIR "
            "to a writable folder, or run `ops notify serve`",
            type(exc).__name__,
            exc.strerror,
        )
        return None
    _children.append(child)
    try:
        if child.stdin is not None:
            child.stdin.write(engine.url.render_as_string(hide_password=False).encode() + b"\n")
            child.stdin.close()
    except OSError:  # it died at once; the next incident change starts another
        logger.warning("the background notification deliverer did not start; see %s", log)
        return None
    logger.info("started background notification deliverer %d (log: %s)", child.pid, log)
    return child.pid


def deliver_soon(engine: Engine, settings: NotifySettings | None = None) -> DeliveryReport | None:
    """One bounded pass over what is due, then a background deliverer for what is left.

    Returns the pass's report, or ``None`` when it did not end in time (its
    last request goes on in its thread, which claims nothing more; claims keep
    every notification sent once). Never waits longer than
    ``notify_attempt_budget + notify_attempt_timeout``, imports included.
    """
    settings = settings or get_settings().notify
    done: list[DeliveryReport] = []
    deadline = time.monotonic() + settings.notify_attempt_budget

    def bounded_pass() -> None:
        try:
            done.append(deliver_pending(engine, settings=settings, bounded=True, deadline=deadline))
        except Exception as exc:  # noqa: BLE001 - the store or a client failed: the deliverer tries again
            logger.warning("notifications not delivered now (%s); a background deliverer retries", type(exc).__name__)

    worker = threading.Thread(target=bounded_pass, name="sluice-notify-bounded-pass", daemon=True)
    worker.start()
    worker.join(max(0.0, deadline + settings.notify_attempt_timeout - time.monotonic()))
    report = done[0] if done else None
    if report is None or report.pending or report.waiting:
        ensure_background(engine, settings)
    return report


@dataclass(frozen=True)
class ServeReport:
    """What one run of the delivery loop did."""

    passes: int = 0
    sent: int = 0
    failed: int = 0


def next_due(engine: Engine) -> datetime | None:
    """When the soonest notification that could be sent next is due: the first open one of each incident
    and channel (the later ones wait for it); ``None`` when nothing is left to send."""
    heads: dict[tuple[int, str], datetime] = {}
    for row in open_rows(engine, limit=5000):
        heads.setdefault((row.incident_id, row.channel), row.next_attempt_at)
    return min(heads.values(), default=None)


def _pause(engine: Engine, settings: NotifySettings, progressed: bool) -> float | None:
    """Seconds to wait before the next pass, or ``None`` when the outbox holds nothing to send."""
    from ops.incidents.models import utcnow

    soonest = next_due(engine)
    if soonest is None:
        return None
    wait = min(settings.notify_poll_seconds, max(0.0, (soonest - utcnow()).total_seconds()))
    return wait if progressed else max(wait, min(IDLE_FLOOR, settings.notify_poll_seconds))


def serve(
    engine: Engine,
    settings: NotifySettings,
    *,
    until_empty: bool,
    deadline: float = math.inf,
    stop: threading.Event | None = None,
) -> ServeReport:
    """Make full delivery passes while there is something to send (or forever), until ``stop`` is set or
    ``deadline`` (a ``time.monotonic()`` value) passes. Waits, ``Retry-After`` included, end when
    ``stop`` is set; a store that cannot be reached for a while is waited for, not a reason to stop."""
    stop = stop or threading.Event()
    passes = sent = failed = 0
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            report = deliver_pending(engine, settings=settings, sleep=stop.wait)
            pause = _pause(engine, settings, progressed=bool(report.notifications))
        except SQLAlchemyError as exc:
            logger.warning(
                "the incident store cannot be read (%s); trying again in %gs",
                type(exc).__name__,
                settings.notify_poll_seconds,
            )
            stop.wait(settings.notify_poll_seconds)
            continue
        passes, sent, failed = passes + 1, sent + report.sent, failed + report.failed
        if pause is None and until_empty:
            break
        stop.wait(min(settings.notify_poll_seconds if pause is None else pause, deadline - time.monotonic()))
    return ServeReport(passes, sent, failed)


def run_detached(engine: Engine, settings: NotifySettings, stop: threading.Event) -> ServeReport:
    """The background deliverer: serve under the store's lock until the outbox is empty or it gives up.

    After letting go of the lock it looks once more: a notification queued
    while it was finishing, by a process that saw the lock still taken,
    is not left behind.
    """
    lock = DelivererLock.of(engine.url, settings)
    deadline = time.monotonic() + settings.notify_background_seconds
    total = ServeReport()
    while lock.acquire():
        try:
            done = serve(engine, settings, until_empty=True, deadline=deadline, stop=stop)
        finally:
            lock.release()
        total = ServeReport(total.passes + done.passes, total.sent + done.sent, total.failed + done.failed)
        if stop.is_set() or time.monotonic() >= deadline or not _anything_left(engine):
            break
    return total


def _anything_left(engine: Engine) -> bool:
    try:
        return next_due(engine) is not None
    except SQLAlchemyError:  # cannot tell: keep the lock and keep trying until the deadline
        return True


def _stop_on_signals(stop: threading.Event) -> None:
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda *_: stop.set())


def run_from(stream: TextIO) -> int:
    """Run the background deliverer for the store whose URL is the first line of ``stream``."""
    from ops.incidents.db import open_engine

    url = stream.readline(4096).strip()
    try:
        engine = open_engine(url)
        settings = get_settings().notify
    except Exception as exc:  # noqa: BLE001 - the URL or a setting is unusable: say which kind of problem, never the URL
        logger.error(
            "background deliverer not started: %s (check SLUICE_INCIDENTS_URL and the SLUICE_NOTIFY_* settings)",
            type(exc).__name__,
        )
        return 2
    stop = threading.Event()
    _stop_on_signals(stop)
    done = run_detached(engine, settings, stop)
    logger.info("background deliverer done: %d passes, %d sent, %d failed", done.passes, done.sent, done.failed)
    return 0


def main() -> int:
    """Entry point of the detached deliverer: the store's URL arrives on standard input."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")
    logger.setLevel(logging.INFO)  # its own progress; the clients' request lines stay out of the log
    return run_from(sys.stdin)


if __name__ == "__main__":
    raise SystemExit(main())
