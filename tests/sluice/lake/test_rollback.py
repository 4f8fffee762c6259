"""Rolling a table back: one restore commit recorded as a rollback, never over another writer's later commit."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from sluice.errors import LakeError, LeaseLostError
from sluice.lake.commit_log import read_commit
from sluice.lake.lease import hold_lease
from sluice.lake.log import history
from sluice.lake.rollback import RollbackRequest, record_rollback, restore
from sluice.lake.write import commit_metadata
from sluice.runs.metastore import engine_for, get_run, save_run
from sluice.runs.records import RunReport


def _commit(uri: str, ids: list[int], run_id: str) -> int:
    write_deltalake(
        uri,
        pa.table({"id": pa.array(ids, pa.int64())}),
        mode="append",
        commit_properties=_props({"run_id": run_id}),
    )
    return DeltaTable(uri).version()


def _props(meta: dict[str, object]):
    from deltalake import CommitProperties

    return CommitProperties(custom_metadata=commit_metadata(meta))


def _ids(uri: str) -> list[int]:
    return sorted(DeltaTable(uri).to_pyarrow_table().column("id").to_pylist())


@pytest.fixture()
def table(tmp_path: Path) -> str:
    """Version 0 holds ids 1-3, version 1 (run "bad") ids 100-102."""
    uri = str(tmp_path / "lake" / "orders")
    _commit(uri, [1, 2, 3], "good")
    _commit(uri, [100, 101, 102], "bad")
    return uri


def test_a_rollback_restores_the_earlier_version_and_says_why_and_by_whom(table):
    outcome = restore(table, RollbackRequest("orders", 0, "contract check failed", "run r9", 1, run_id="r9"))

    assert outcome.restored and outcome.version == 2 and outcome.undone == [1]
    assert outcome.undone_runs == {1: "bad"}
    assert _ids(table) == [1, 2, 3]
    entry = read_commit(table, 2)
    assert entry is not None and entry.operation == "RESTORE"
    assert entry.metadata["rollback"] == {
        "to_version": 0,
        "undone": [1],
        "reason": "contract check failed",
        "by": "run r9",
    }
    assert history(table, limit=1)[0].run_id == "r9"


def test_a_rollback_over_several_versions_undoes_each_of_them(table):
    _commit(table, [200], "worse")

    outcome = restore(table, RollbackRequest("orders", 0, "by hand", "user ops"))

    assert outcome.undone == [1, 2] and outcome.undone_runs == {1: "bad", 2: "worse"}
    assert _ids(table) == [1, 2, 3]


def test_a_later_commit_of_another_writer_is_kept_and_nothing_is_restored(table):
    _commit(table, [300], "other")

    outcome = restore(table, RollbackRequest("orders", 0, "row count", "run r9", expected_latest=1))

    assert not outcome.restored and outcome.superseded_by == [2]
    assert "2 were committed after" in outcome.summary
    assert DeltaTable(table).version() == 2 and _ids(table) == [1, 2, 3, 100, 101, 102, 300]


class _RacingFence:
    """A lease check during which another writer (one that ignores the lease) commits the next version."""

    token = 7

    def __init__(self, uri: str) -> None:
        self.uri = uri

    def ensure_held(self) -> None:
        _commit(self.uri, [400], "racer")


def test_a_writer_that_takes_the_next_version_between_check_and_restore_wins(table):
    outcome = restore(
        table, RollbackRequest("orders", 0, "row count", "run r9", expected_latest=1), lease=_RacingFence(table)
    )

    assert not outcome.restored and outcome.superseded_by == [2]
    assert _ids(table) == [1, 2, 3, 100, 101, 102, 400]
    assert all(e.operation != "RESTORE" for e in history(table))


class _LostFence:
    token = 3

    def ensure_held(self) -> None:
        raise LeaseLostError("lost", hint="rerun")


def test_a_lost_lease_restores_nothing(table):
    with pytest.raises(LeaseLostError):
        restore(table, RollbackRequest("orders", 0, "x", "run r9", expected_latest=1), lease=_LostFence())
    assert DeltaTable(table).version() == 1


@pytest.mark.parametrize(
    ("version", "says"), [(5, "does not exist"), (-1, "does not exist"), (1, "already the latest")]
)
def test_a_version_that_cannot_be_restored_is_refused_with_the_range(table, version, says):
    with pytest.raises(LakeError, match=says) as caught:
        restore(table, RollbackRequest("orders", version, "x", "user ops"))
    assert "ops lake history orders" in caught.value.hint
    assert DeltaTable(table).version() == 1


def test_no_table_is_a_lake_error(tmp_path):
    with pytest.raises(LakeError, match="no Delta table"):
        restore(str(tmp_path / "none"), RollbackRequest("orders", 0, "x", "user ops"))


def test_the_rolled_back_run_record_says_so_and_still_adds_up(table, tmp_path):
    engine = engine_for(f"sqlite:///{tmp_path / 'meta.db'}")
    bad = RunReport(
        "bad", "orders", "/drop", "dev", datetime.now(timezone.utc), status="completed", rows_read=5, rows_written=3
    )
    bad.rows_quarantined, bad.rows_duplicate = 1, 1
    with engine.begin() as conn:
        save_run(conn, bad)

    outcome = restore(table, RollbackRequest("orders", 0, "contract", "run r9", expected_latest=1))
    assert record_rollback(engine, outcome) == ["bad"]

    with engine.connect() as conn:
        record = get_run(conn, "bad")
    assert record is not None and record.rows_rolled_back == 3 and record.rollback_version == 2
    assert record.rows_written == 3 and record.rows_read == 5


def test_concurrent_writers_and_a_rollback_never_lose_a_commit_of_another_writer(table, tmp_path):
    """Writers append under the dataset's lease while a rollback of version 1 races them for it."""
    engine = engine_for(f"sqlite:///{tmp_path / 'meta.db'}")
    dataset = f"orders_{uuid.uuid4().hex[:6]}"
    barrier = threading.Barrier(4)
    outcomes = []

    def writer(i: int) -> None:
        barrier.wait()
        with hold_lease(engine, dataset, f"w{i}", ttl_s=30, wait_s=60):
            _commit(table, [1000 + i], f"w{i}")

    def roller() -> None:
        barrier.wait()
        with hold_lease(engine, dataset, "roller", ttl_s=30, wait_s=60) as lease:
            outcomes.append(restore(table, RollbackRequest(dataset, 0, "x", "run r", expected_latest=1), lease=lease))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(3)] + [threading.Thread(target=roller)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    (outcome,) = outcomes
    others = [1000, 1001, 1002]
    ids = _ids(table)
    assert set(others) <= set(ids)
    if outcome.restored:
        assert outcome.version == 2 and ids == [1, 2, 3, *others]
    else:
        assert ids == [1, 2, 3, 100, 101, 102, *others]
    assert DeltaTable(table).version() == 1 + 3 + int(outcome.restored)
