"""Frames committed from memory: each key and batch once, a moved table re-plans, concurrent writers add up."""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from sluice.lake import direct
from sluice.lake.commit import Batch
from sluice.lake.direct import OpenTable
from sluice.lake.frames import LeaseSpec
from sluice.runs.metastore import engine_for
from sluice.sources.streams.base import Message, Offset, StreamBatch
from sluice.sources.streams.sink import StreamSink
from sluice.validate.contracts import Contract, parse_contract
from tests.sluice.sources.streams.conftest import EVENTS, event, make_sink


@pytest.fixture
def contract() -> Contract:
    return parse_contract(EVENTS)


def _batch(partition: str, ids: list[int], first_offset: int = 0) -> StreamBatch:
    return StreamBatch([Message(partition, Offset(first_offset + n), None, event(i)) for n, i in enumerate(ids)])


def _ids(home: Path) -> list[int]:
    table = DeltaTable(str(home / "lake" / "events"))
    return sorted(table.to_pyarrow_table(columns=["id"]).column("id").to_pylist())


def _recorded(home: Path) -> list[str]:
    """Every batch id any commit of the table recorded (with repeats)."""
    import json

    found = []
    for path in sorted((home / "lake" / "events" / "_delta_log").glob("*.json")):
        for line in path.read_text().splitlines():
            if "txn" in (action := json.loads(line)):
                found.append(action["txn"]["appId"])
    return found


def test_keys_the_lake_or_the_batch_holds_already_are_written_once(tmp_path: Path, contract: Contract) -> None:
    sink = make_sink(tmp_path, contract)
    first = sink.write("redis:events", _batch("p0", list(range(10))))
    again = sink.write("redis:events", _batch("p1", [*range(5, 15), 14, 3]))  # other positions, some keys known

    assert _ids(tmp_path) == list(range(15))
    assert (first.written, again.written, again.duplicate) == (10, 5, 7)


def test_a_batch_the_table_records_commits_nothing_and_writes_no_version(tmp_path: Path, contract: Contract) -> None:
    sink = make_sink(tmp_path, contract)
    sink.write("redis:events", _batch("p0", list(range(4))))
    version = DeltaTable(str(tmp_path / "lake" / "events")).version()
    position = '{"p0":"0..3"}'
    outcome = direct.commit_rows(
        sink._target(), Batch("redis:events", position), _valid(sink), None, metadata={}, table=sink.table
    )

    assert outcome.committed == [] and outcome.skipped == [Batch("redis:events", position).id]
    assert DeltaTable(str(tmp_path / "lake" / "events")).version() == version


def _valid(sink: StreamSink) -> pa.Table:
    """The lake rows of events 0-3, as the sink validates them."""
    from datetime import date

    from sluice.sources.streams.sink import decode_valid
    from sluice.validate.chunk import BatchContext

    ctx = BatchContext("events", sink.run_id, "b", "redis:events", date(2024, 3, 5))
    return decode_valid(sink.decoder, _batch("p0", list(range(4))).messages, sink.contract, ctx)[1].valid


def test_a_commit_by_another_writer_after_the_plan_replans_and_both_land_once(
    tmp_path: Path, contract: Contract, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine, other = make_sink(tmp_path, contract), make_sink(tmp_path, contract)
    mine.write("redis:events", _batch("p0", [0]))  # the table and its date exist: rows go through the anti-join
    real = direct.frame_bucket
    moved: list[bool] = []

    def another_writer_first(*args, **kwargs):  # type: ignore[no-untyped-def]
        if not moved:  # once, before this writer's first attempt commits
            moved.append(True)
            other.write("redis:events", _batch("p1", [1, 2, 3]))
        return real(*args, **kwargs)

    monkeypatch.setattr(direct, "frame_bucket", another_writer_first)
    outcome = mine.write("redis:events", _batch("p0", [2, 3, 4, 5], first_offset=1))

    assert _ids(tmp_path) == [0, 1, 2, 3, 4, 5]
    assert outcome.written == 2 and outcome.duplicate == 2 and moved
    newest = DeltaTable(str(tmp_path / "lake" / "events")).history(1)[0]
    assert newest["sluice.attempt"] == "2"  # its first attempt lost to the other writer's commit
    assert len(_recorded(tmp_path)) == len(set(_recorded(tmp_path))) == 3


def test_writers_in_threads_over_overlapping_keys_leave_each_key_and_batch_once(
    tmp_path: Path, contract: Contract
) -> None:
    lease = LeaseSpec(engine_for(f"sqlite:///{tmp_path / 'sluice.db'}"), wait_s=60)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        sink = make_sink(tmp_path, contract, lease=lease)
        try:
            for k in range(3):
                ids = list(range(10 * k + n, 10 * k + n + 12))  # overlaps the other writers' keys
                sink.write("redis:events", _batch(f"p{n}", ids, first_offset=20 * k))
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert not errors
    assert _ids(tmp_path) == list(range(35))
    assert len(_recorded(tmp_path)) == len(set(_recorded(tmp_path))) == 12


def test_an_open_table_sees_commits_made_elsewhere(tmp_path: Path, contract: Contract) -> None:
    sink = make_sink(tmp_path, contract)
    sink.write("redis:events", _batch("p0", [0]))
    held = OpenTable(sink.uri)
    before = held.current()
    assert before is not None
    version = before.version()
    make_sink(tmp_path, contract).write("redis:events", _batch("p1", [1]))

    after = held.current()
    assert after is not None and after.version() == version + 1
