"""A lease per dataset in the metadata store: one writer commits to a dataset's table at a time.

A lease is a row of ``dataset_leases``. Acquiring it is one atomic statement
in the database: an insert when the dataset has no row yet, otherwise a
compare-and-set update that takes over a row whose lease has expired. Every
acquisition bumps the row's ``token`` (a fencing token), so a later holder
always has a larger token than an earlier one; the token is written into the
Delta commit metadata. While held, the lease is renewed in the background;
a holder whose lease lapsed (a paused process, a lost database) finds out at
its next renewal or check and stops before committing.

Functions that take a ``Connection`` never commit (the caller owns the
transaction); :func:`acquire` and :func:`hold_lease` take an ``Engine`` and run
their own short transactions. Times are epoch milliseconds from the caller's
clock: hosts that share a store need clocks that agree to well within the TTL.
Correctness does not rest on clocks alone: a commit only lands on the table
version its plan read (see :mod:`sluice.lake.commit`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from sluice.errors import LeaseLostError, LeaseTimeoutError
from sluice.runs.metastore import dataset_leases

log = logging.getLogger(__name__)

Clock = Callable[[], int]


def now_ms() -> int:
    return int(time.time() * 1000)


def holder_name(run_id: str) -> str:
    """Who holds a lease: the run, and the host and process it runs in."""
    return f"{run_id}@{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Lease:
    """A granted lease: ``token`` fences out every earlier holder of the dataset."""

    dataset: str
    holder: str
    token: int
    expires_at_ms: int


def _insert_if_absent(conn: Connection, row: dict[str, object]) -> int | None:
    """Insert ``row`` unless the dataset already has one; its token if inserted."""
    name = conn.dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement: sa.Insert = pg_insert(dataset_leases).values(**row).on_conflict_do_nothing()
    elif name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = sqlite_insert(dataset_leases).values(**row).on_conflict_do_nothing()
    else:  # pragma: no cover - the store runs on SQLite or PostgreSQL only
        raise NotImplementedError(f"leases need SQLite or PostgreSQL, not {name}")
    return conn.execute(statement.returning(dataset_leases.c.token)).scalar_one_or_none()


def try_acquire(conn: Connection, dataset: str, holder: str, *, ttl_ms: int, now: int) -> Lease | None:
    """Take the lease of ``dataset`` if it is free or expired; ``None`` if someone else holds it.

    The update comes first so that on SQLite the transaction takes the write
    lock at its first statement; on PostgreSQL a concurrent taker waits on the
    row and then re-checks the expiry, so exactly one of them wins.
    """
    expires = now + ttl_ms
    c = dataset_leases.c
    token = conn.execute(
        sa.update(dataset_leases)
        .where(c.dataset == dataset, c.expires_at_ms <= now)
        .values(holder=holder, token=c.token + 1, expires_at_ms=expires, acquired_at_ms=now)
        .returning(c.token)
    ).scalar_one_or_none()
    if token is None:
        token = _insert_if_absent(
            conn, {"dataset": dataset, "holder": holder, "token": 1, "expires_at_ms": expires, "acquired_at_ms": now}
        )
    return Lease(dataset, holder, int(token), expires) if token is not None else None


def _crashed_here(holder: str) -> bool:
    """Whether ``holder`` (from :func:`holder_name`) was a process on this host that no longer runs."""
    _, _, where = holder.rpartition("@")
    host, _, pid = where.rpartition(":")
    if host != socket.gethostname() or not (pid.isascii() and pid.isdigit()) or int(pid) < 1:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):  # alive but another user's; or no process could have it
        return False
    return False


def take_from_crashed(conn: Connection, dataset: str, holder: str, *, ttl_ms: int, now: int) -> Lease | None:
    """Take the lease now if its holder was a process on this host that died, instead of waiting out its TTL.

    A compare-and-set on the token seen: of several waiters, one takes it.
    """
    c = dataset_leases.c
    row = conn.execute(sa.select(c.holder, c.token).where(c.dataset == dataset)).first()
    if row is None or not _crashed_here(row.holder):
        return None
    token = conn.execute(
        sa.update(dataset_leases)
        .where(c.dataset == dataset, c.token == row.token)
        .values(holder=holder, token=c.token + 1, expires_at_ms=now + ttl_ms, acquired_at_ms=now)
        .returning(c.token)
    ).scalar_one_or_none()
    if token is not None:
        log.warning("took the lease of %s from %s, a process of this host that no longer runs", dataset, row.holder)
    return Lease(dataset, holder, int(token), now + ttl_ms) if token is not None else None


def _mine(lease: Lease) -> sa.ColumnElement[bool]:
    c = dataset_leases.c
    return sa.and_(c.dataset == lease.dataset, c.holder == lease.holder, c.token == lease.token)


def renew(conn: Connection, lease: Lease, *, ttl_ms: int, now: int) -> Lease:
    """Extend a lease still held; raises :class:`LeaseLostError` if it expired or was taken over."""
    c = dataset_leases.c
    updated = conn.execute(
        sa.update(dataset_leases).where(_mine(lease), c.expires_at_ms > now).values(expires_at_ms=now + ttl_ms)
    )
    if updated.rowcount != 1:
        raise _lost(lease)
    return Lease(lease.dataset, lease.holder, lease.token, now + ttl_ms)


def ensure_held(conn: Connection, lease: Lease, *, now: int) -> None:
    """Raise :class:`LeaseLostError` unless ``lease`` is still the dataset's current, unexpired lease."""
    c = dataset_leases.c
    if conn.execute(sa.select(c.token).where(_mine(lease), c.expires_at_ms > now)).first() is None:
        raise _lost(lease)


def release(conn: Connection, lease: Lease) -> None:
    """Give the lease up now (the row and its token stay); a lease already lost is left alone."""
    conn.execute(sa.update(dataset_leases).where(_mine(lease)).values(expires_at_ms=0))


def _lost(lease: Lease) -> LeaseLostError:
    return LeaseLostError(
        f"the commit lease of {lease.dataset} (token {lease.token}) expired or was taken over",
        hint="another run may be committing this dataset; nothing of this attempt was committed, rerun it",
    )


def acquire(
    engine: Engine,
    dataset: str,
    holder: str,
    *,
    ttl_s: float,
    wait_s: float,
    clock: Clock = now_ms,
    poll_s: float = 0.2,
) -> Lease:
    """Wait up to ``wait_s`` seconds for the lease of ``dataset``.

    Raises:
        LeaseTimeoutError: another holder kept it the whole time.
    """
    deadline = time.monotonic() + wait_s
    delay = poll_s
    while True:
        try:
            with engine.begin() as conn:
                now = clock()
                lease = try_acquire(conn, dataset, holder, ttl_ms=int(ttl_s * 1000), now=now) or take_from_crashed(
                    conn, dataset, holder, ttl_ms=int(ttl_s * 1000), now=now
                )
        except OperationalError as exc:  # SQLite busy beyond its timeout: contention, try again
            log.debug("lease of %s: store busy (%s)", dataset, exc)
            lease = None
        if lease is not None:
            return lease
        if time.monotonic() >= deadline:
            with engine.connect() as conn:
                row = conn.execute(sa.select(dataset_leases).where(dataset_leases.c.dataset == dataset)).first()
            who = f"{row.holder} (token {row.token})" if row else "another run"
            raise LeaseTimeoutError(
                f"the commit lease of {dataset} is held by {who}; waited {wait_s:.0f} s",
                hint="wait for that run to finish, or raise SLUICE_LEASE_WAIT_SECONDS; "
                "a crashed holder's lease expires after SLUICE_LEASE_TTL_SECONDS",
            )
        time.sleep(delay)
        delay = min(delay * 1.5, 2.0)


class HeldLease:
    """A lease renewed in a background thread until :meth:`close`."""

    def __init__(
        self, engine: Engine, lease: Lease, *, ttl_s: float, clock: Clock = now_ms, renew_every_s: float | None = None
    ) -> None:
        self.engine, self.ttl_ms, self.clock = engine, int(ttl_s * 1000), clock
        self.renew_every_s = renew_every_s if renew_every_s is not None else ttl_s / 3
        self._lease = lease
        self._lost: LeaseLostError | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew_loop, name=f"lease-{lease.dataset}", daemon=True)
        self._thread.start()

    @property
    def lease(self) -> Lease:
        return self._lease

    @property
    def token(self) -> int:
        return self._lease.token

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.renew_every_s):
            try:
                with self.engine.begin() as conn:
                    self._lease = renew(conn, self._lease, ttl_ms=self.ttl_ms, now=self.clock())
            except LeaseLostError as exc:
                self._lost = exc
                return
            except Exception as exc:  # noqa: BLE001 - a store hiccup: the next renewal or ensure_held decides
                log.warning("renewing the lease of %s failed: %s", self._lease.dataset, exc)

    def ensure_held(self) -> None:
        """Raise :class:`LeaseLostError` unless the lease is still held (one query)."""
        if self._lost is not None:
            raise self._lost
        with self.engine.connect() as conn:
            ensure_held(conn, self._lease, now=self.clock())

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        if self._lost is None:
            with self.engine.begin() as conn:
                release(conn, self._lease)


@contextlib.contextmanager
def hold_lease(
    engine: Engine, dataset: str, holder: str, *, ttl_s: float, wait_s: float, clock: Clock = now_ms
) -> Iterator[HeldLease]:
    """Acquire the lease of ``dataset``, keep it renewed inside the block, release it at the end.

    Example:
        >>> with hold_lease(engine_for(url), "orders", holder_name(run_id), ttl_s=60, wait_s=600) as lease:
        ...     commit_batches(target, batches, lease=lease, metadata={})
    """
    held = HeldLease(
        engine, acquire(engine, dataset, holder, ttl_s=ttl_s, wait_s=wait_s, clock=clock), ttl_s=ttl_s, clock=clock
    )
    try:
        yield held
    finally:
        held.close()
