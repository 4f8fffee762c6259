"""The access audit is append-only and whole under concurrent writers; garbage lines do not hide the others."""

from __future__ import annotations

import multiprocessing

from sluice.governance.audit import audit_path, read_access, record_access
from sluice.settings import get_settings


def _write_many(home: str, worker: int) -> None:
    import os

    os.environ["SLUICE_HOME"] = home
    for i in range(50):
        record_access(
            action="reveal", dataset="orders", columns=["email"], rows=i, purpose="x" * 500, principal=f"w{worker}"
        )


def test_concurrent_processes_append_whole_records_and_none_is_lost(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SLUICE_HOME", str(tmp_path))
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_many, args=(str(tmp_path), w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()

    records = read_access(get_settings())
    assert len(records) == 200
    assert sorted((r.principal, r.rows) for r in records) == sorted((f"w{w}", i) for w in range(4) for i in range(50))
    assert len(audit_path().read_text().splitlines()) == 200


def test_a_damaged_line_is_skipped_and_the_records_around_it_still_read(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SLUICE_HOME", str(tmp_path))
    record_access(action="reveal", dataset="a", columns=["c"], rows=1, principal="p")
    with audit_path().open("a") as out:
        out.write('{"truncated": \n\x00\xff garbage\n')
    record_access(action="reveal", dataset="b", columns=["c"], rows=2, principal="p")

    assert [r.dataset for r in read_access()] == ["a", "b"]
