"""Reveals land in the one access audit: whole under concurrent writers, readable as reveals and by ops audit."""

from __future__ import annotations

import multiprocessing

from sluice.access.audit import AccessAction, read_audit
from sluice.governance.audit import DECRYPT, REVEAL_PII, read_access, record_access
from sluice.settings import get_settings


def _write_many(home: str, worker: int) -> None:
    import os

    os.environ["SLUICE_HOME"] = home
    for i in range(8):
        record_access(
            action=DECRYPT, dataset="orders", columns=["email"], rows=i, purpose="x" * 500, principal=f"w{worker}"
        )


def test_concurrent_processes_append_whole_records_and_none_is_lost(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SLUICE_HOME", str(tmp_path))
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_many, args=(str(tmp_path), w)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()

    records = read_access(get_settings(fresh=True))
    assert all(p.exitcode == 0 for p in procs)
    assert sorted((r.principal, r.rows) for r in records) == sorted((f"w{w}", i) for w in range(3) for i in range(8))
    assert all(r.purpose == "x" * 500 and r.columns == ["email"] for r in records)


def test_a_reveal_and_a_decryption_are_audit_rows_that_ops_audit_lists(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SLUICE_HOME", str(tmp_path))
    settings = get_settings(fresh=True)
    record_access(action=REVEAL_PII, dataset="a", columns=["email", "c"], rows=1, principal="p", purpose="INC-1")
    record_access(action=DECRYPT, dataset="b", columns=["c"], rows=2, principal="p")

    assert [(r.action, r.dataset) for r in read_access(settings)] == [(REVEAL_PII, "a"), (DECRYPT, "b")]
    rows = read_audit(settings, action=AccessAction.REVEAL_PII)
    assert [(r.subject, r.issuer, r.columns, r.reason) for r in rows] == [("p", "os-user", ("c", "email"), "INC-1")]
