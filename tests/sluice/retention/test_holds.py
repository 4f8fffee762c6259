"""Legal holds in the metadata store: scope, release, and writers racing on the same hold."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from sluice.errors import ConfigError
from sluice.retention.holds import add_hold, blocking, list_holds, release_hold
from sluice.retention.subjects import ensure_subject
from sluice.runs.metastore import engine_for


def test_a_dataset_hold_blocks_retention_and_erasure_a_subject_hold_only_that_subjects_erasure(home):
    jane, bob = ensure_subject("email=jane@example.com"), ensure_subject("email=bob@example.com")
    with engine_for(home.metadata_db_url()).begin() as conn:
        whole = add_hold(conn, "orders", "audit")
        one = add_hold(conn, "customers", "dispute", jane)
        holds = list_holds(conn)

    assert blocking(holds, "orders") == [whole] and blocking(holds, "orders", [bob]) == [whole]
    assert blocking(holds, "customers") == []  # retention is not held by a subject's hold
    assert blocking(holds, "customers", [jane]) == [one] and blocking(holds, "customers", [bob]) == []
    assert "jane" not in one.scope and one.subject_hash == jane.digest


def test_a_released_hold_stops_blocking_and_stays_listed_with_all(home):
    engine = engine_for(home.metadata_db_url())
    with engine.begin() as conn:
        hold = add_hold(conn, "orders", "audit")
    with engine.begin() as conn:
        released = release_hold(conn, hold.hold_id)
        assert list_holds(conn) == [] and list_holds(conn, include_released=True) == [released]
    assert released.released_at is not None and blocking([released], "orders") == []


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_hold_needs_a_reason_and_a_valid_dataset(home, reason):
    with engine_for(home.metadata_db_url()).begin() as conn:
        with pytest.raises(ConfigError, match="reason"):
            add_hold(conn, "orders", reason)
        with pytest.raises(ConfigError):
            add_hold(conn, "../etc", "x")


def test_writers_adding_and_releasing_concurrently_keep_every_hold_and_release_each_once(home):
    engine = engine_for(home.metadata_db_url())

    def add(i: int) -> str:
        for _attempt in range(20):  # SQLite busy under contention: the caller tries again
            try:
                with engine.begin() as conn:
                    return add_hold(conn, "orders", f"case {i}").hold_id
            except Exception:  # noqa: BLE001
                continue
        raise AssertionError("could not add a hold")

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(add, range(24)))
    first = ids[0]

    def release(_i: int) -> bool:
        try:
            with engine.begin() as conn:
                release_hold(conn, first)
            return True
        except ConfigError:
            return False

    with ThreadPoolExecutor(8) as pool:
        wins = list(pool.map(release, range(8)))

    with engine.begin() as conn:
        active = {h.hold_id for h in list_holds(conn)}
    assert len(set(ids)) == 24 and active == set(ids) - {first}
    assert wins.count(True) == 1
