"""The dataset lease: atomic acquisition, contention, expiry take-over and fencing, on SQLite and PostgreSQL."""

from __future__ import annotations

import socket
import threading
import time
import uuid

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from sluice.errors import LeaseLostError, LeaseTimeoutError
from sluice.lake.lease import (
    HeldLease,
    acquire,
    ensure_held,
    hold_lease,
    release,
    renew,
    try_acquire,
)
from sluice.runs.metastore import dataset_leases, engine_for
from tests.postgres import POSTGRES_URL, postgres_available

TTL_MS = 60_000


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path) -> sa.Engine:
    if request.param == "sqlite":
        return engine_for(f"sqlite:///{tmp_path / 'meta.db'}")
    if not postgres_available():
        pytest.fail("PostgreSQL is expected on 127.0.0.1:5432 (database 'test')")
    return engine_for(POSTGRES_URL)


@pytest.fixture()
def dataset() -> str:
    return f"ds_{uuid.uuid4().hex[:10]}"


def _take(engine: sa.Engine, dataset: str, holder: str, now: int):
    with engine.begin() as conn:
        return try_acquire(conn, dataset, holder, ttl_ms=TTL_MS, now=now)


class FakeClock:
    def __init__(self, start: int = 1_000_000) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now


def test_the_first_taker_gets_the_lease_and_a_second_is_refused_while_it_holds(engine, dataset):
    first = _take(engine, dataset, "run-a", now=1_000)
    second = _take(engine, dataset, "run-b", now=1_000 + TTL_MS - 1)

    assert first is not None and first.token == 1 and first.holder == "run-a"
    assert second is None


def test_an_expired_lease_is_taken_over_with_a_larger_token_and_the_old_holder_is_fenced_out(engine, dataset):
    old = _take(engine, dataset, "run-a", now=1_000)
    new = _take(engine, dataset, "run-b", now=1_000 + TTL_MS)

    assert new is not None and new.token == old.token + 1
    with engine.begin() as conn, pytest.raises(LeaseLostError, match="taken over"):
        renew(conn, old, ttl_ms=TTL_MS, now=1_000 + TTL_MS + 1)
    with engine.connect() as conn:
        with pytest.raises(LeaseLostError):
            ensure_held(conn, old, now=1_000 + TTL_MS + 1)
        ensure_held(conn, new, now=1_000 + TTL_MS + 1)


def test_renewal_keeps_a_lease_from_expiring(engine, dataset):
    lease = _take(engine, dataset, "run-a", now=1_000)
    with engine.begin() as conn:
        lease = renew(conn, lease, ttl_ms=TTL_MS, now=1_000 + TTL_MS - 10)

    assert _take(engine, dataset, "run-b", now=1_000 + TTL_MS + 10) is None
    assert lease.expires_at_ms == 1_000 + 2 * TTL_MS - 10


def test_a_lease_that_expired_unrenewed_cannot_be_renewed_even_if_nobody_took_it(engine, dataset):
    lease = _take(engine, dataset, "run-a", now=1_000)
    with engine.begin() as conn, pytest.raises(LeaseLostError):
        renew(conn, lease, ttl_ms=TTL_MS, now=1_000 + TTL_MS)


def test_release_frees_the_lease_and_tokens_keep_growing(engine, dataset):
    tokens = []
    for holder in ["run-a", "run-b", "run-c"]:
        lease = _take(engine, dataset, holder, now=5_000)
        tokens.append(lease.token)
        with engine.begin() as conn:
            release(conn, lease)
    assert tokens == [1, 2, 3]


def _race(engine: sa.Engine, dataset: str, takers: int, now: int) -> list[int]:
    barrier = threading.Barrier(takers)
    won: list[int] = []
    errors: list[BaseException] = []

    def take(i: int) -> None:
        barrier.wait()
        try:
            lease = acquire(engine, dataset, f"run-{i}", ttl_s=TTL_MS / 1000, wait_s=0, clock=lambda: now)
            won.append(lease.token)
        except LeaseTimeoutError:
            pass
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=take, args=(i,)) for i in range(takers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return won


def test_of_many_concurrent_takers_exactly_one_wins_a_free_lease(engine, dataset):
    assert len(_race(engine, dataset, 8, now=10_000)) == 1


def test_of_many_concurrent_takers_exactly_one_takes_over_an_expired_lease(engine, dataset):
    first = _take(engine, dataset, "crashed-run", now=10_000)

    won = _race(engine, dataset, 8, now=10_000 + TTL_MS)

    assert won == [first.token + 1]


def test_waiting_for_a_held_lease_gives_up_naming_the_holder(engine, dataset):
    _take(engine, dataset, "run-a", now=int(time.time() * 1000))

    with pytest.raises(LeaseTimeoutError, match="run-a") as caught:
        acquire(engine, dataset, "run-b", ttl_s=60, wait_s=0.3, poll_s=0.05)

    assert "SLUICE_LEASE_WAIT_SECONDS" in caught.value.hint


def test_a_waiter_gets_the_lease_once_the_holder_releases_it(engine, dataset):
    with hold_lease(engine, dataset, "run-a", ttl_s=60, wait_s=1) as held:
        token = held.token
        got: list[int] = []
        waiter = threading.Thread(
            target=lambda: got.append(acquire(engine, dataset, "run-b", ttl_s=60, wait_s=30, poll_s=0.05).token)
        )
        waiter.start()
        time.sleep(0.3)
        assert got == []
    waiter.join()
    assert got == [token + 1]


def test_a_held_lease_is_renewed_in_the_background(engine, dataset):
    clock = FakeClock()
    with engine.begin() as conn:
        lease = try_acquire(conn, dataset, "run-a", ttl_ms=TTL_MS, now=clock())
    held = HeldLease(engine, lease, ttl_s=TTL_MS / 1000, clock=clock, renew_every_s=0.02)
    try:
        for _ in range(3):
            clock.now += TTL_MS // 2  # each step alone would not expire it; two would, without renewals
            deadline = time.monotonic() + 10
            while held.lease.expires_at_ms != clock.now + TTL_MS and time.monotonic() < deadline:
                time.sleep(0.01)
        held.ensure_held()
        assert _take(engine, dataset, "run-b", now=clock.now) is None
    finally:
        held.close()


def test_a_holder_taken_over_finds_out_before_it_commits(engine, dataset):
    clock = FakeClock()
    with engine.begin() as conn:
        lease = try_acquire(conn, dataset, "run-a", ttl_ms=TTL_MS, now=clock())
    held = HeldLease(engine, lease, ttl_s=TTL_MS / 1000, clock=clock, renew_every_s=3600)
    try:
        clock.now += TTL_MS
        assert _take(engine, dataset, "run-b", now=clock.now) is not None

        with pytest.raises(LeaseLostError, match=dataset):
            held.ensure_held()
    finally:
        held.close()
    with engine.connect() as conn:  # closing a lost lease leaves the new holder alone
        row = conn.execute(sa.select(dataset_leases).where(dataset_leases.c.dataset == dataset)).one()
    assert row.holder == "run-b" and row.expires_at_ms > clock.now


def test_the_lease_of_a_crashed_process_on_this_host_is_taken_at_once(engine, dataset, tmp_path):
    import subprocess
    import sys

    from sluice.lake.lease import holder_name

    proc = subprocess.Popen([sys.executable, "-c", "import os; print(os.getpid())"], stdout=subprocess.PIPE, text=True)
    dead_pid = int(proc.communicate()[0])
    crashed = holder_name("run-a").rsplit(":", 1)[0] + f":{dead_pid}"
    _take(engine, dataset, crashed, now=int(time.time() * 1000))

    lease = acquire(engine, dataset, holder_name("run-b"), ttl_s=60, wait_s=0)

    assert lease.token == 2


def test_the_lease_of_a_live_process_or_another_host_is_waited_for(engine, dataset):
    import os

    from sluice.lake.lease import holder_name

    for holder in [holder_name("run-a").rsplit(":", 1)[0] + f":{os.getpid()}", "run-a@elsewhere:1"]:
        other = f"{dataset}-{holder[-3:]}"
        _take(engine, other, holder, now=int(time.time() * 1000))
        with pytest.raises(LeaseTimeoutError):
            acquire(engine, other, holder_name("run-b"), ttl_s=60, wait_s=0)


@given(
    holder=st.one_of(
        st.text(max_size=80),
        st.builds(lambda run, pid: f"{run}@{socket.gethostname()}:{pid}", st.text(max_size=20), st.text(max_size=25)),
        st.builds(
            lambda run, pid: f"{run}@{socket.gethostname()}:{pid}",
            st.text(max_size=20),
            st.integers(-5, 10**30).map(str),
        ),
    )
)
def test_any_holder_text_in_the_store_is_read_without_error_and_never_taken_as_crashed_elsewhere(holder):
    from sluice.lake.lease import _crashed_here

    crashed = _crashed_here(holder)

    assert isinstance(crashed, bool)
    if crashed:
        assert holder.rpartition("@")[2].rpartition(":")[0] == socket.gethostname()
