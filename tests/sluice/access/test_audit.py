"""The access audit: append-only, one row per read even when readers race, and policy changes recorded."""

from __future__ import annotations

import json
import multiprocessing
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from deltalake import DeltaTable

from sluice.access.audit import AccessAction, AccessRecord, read_audit, record_access
from sluice.access.read import read_dataset
from sluice.settings import get_settings
from tests.ops.factories import sluice_home
from tests.sluice.access.factories import lake_customers, principal

READS_PER_PROCESS = 3


def _reader(home: str, name: str, start: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    os.environ["SLUICE_HOME"] = home
    start.wait(30)
    for n in range(READS_PER_PROCESS):
        read_dataset("customers", principal(name, "analyst"), reason=f"{name}-{n}", settings=get_settings(fresh=True))


def test_two_processes_reading_at_once_both_leave_every_audit_row(monkeypatch, tmp_path):
    settings = sluice_home(monkeypatch, tmp_path)
    lake_customers(settings, tmp_path, rows=100)
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    readers = [ctx.Process(target=_reader, args=(str(settings.home), name, start)) for name in ("p1", "p2")]
    for process in readers:
        process.start()
    start.set()
    for process in readers:
        process.join(120)

    assert [p.exitcode for p in readers] == [0, 0]
    reasons = sorted(r.reason or "" for r in read_audit(settings, action=AccessAction.READ))
    assert reasons == sorted(f"{p}-{n}" for p in ("p1", "p2") for n in range(READS_PER_PROCESS))


def test_the_audit_table_refuses_deletes(monkeypatch, tmp_path):
    settings = sluice_home(monkeypatch, tmp_path)
    record_access(AccessRecord(AccessAction.DECRYPT, "svc", "https://idp.test", dataset="customers"))

    table = DeltaTable(settings.audit_root())
    with pytest.raises(Exception, match=r"(?i)append"):
        table.delete("subject = 'svc'")
    assert len(read_audit(settings)) == 1


def test_record_access_is_the_hook_for_reveals_and_decryptions(monkeypatch, tmp_path):
    settings = sluice_home(monkeypatch, tmp_path)
    record_access(
        AccessRecord(
            AccessAction.REVEAL_PII, "oncall", "local", dataset="orders", columns=("email",), rows=3, reason="INC-12"
        ),
        AccessRecord(AccessAction.DECRYPT, "svc", "local", dataset="customers", columns=("full_name",), rows=1),
    )

    [reveal] = read_audit(settings, action=AccessAction.REVEAL_PII)
    assert (reveal.subject, reveal.columns, reveal.rows, reveal.reason) == ("oncall", ("email",), 3, "INC-12")
    assert [r.subject for r in read_audit(settings, dataset="customers")] == ["svc"]
    assert read_audit(settings, since=datetime.now(timezone.utc) + timedelta(minutes=1)) == []


def test_a_changed_policy_file_is_recorded_before_the_next_read(monkeypatch, tmp_path):
    policies = tmp_path / "policies"
    policies.mkdir()
    source = Path(__file__).resolve().parents[3] / "sluice" / "policies" / "customers.yaml"
    (policies / "customers.yaml").write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    settings = sluice_home(monkeypatch, tmp_path, access_policies_dir=str(policies))
    lake_customers(settings, tmp_path, rows=50)
    analyst = principal("ana", "analyst")

    read_dataset("customers", analyst)
    read_dataset("customers", analyst)
    text = (policies / "customers.yaml").read_text(encoding="utf-8")
    (policies / "customers.yaml").write_text(text.replace("customer_id: hash", "customer_id: partial"), "utf-8")
    read_dataset("customers", analyst)

    actions = [r.action for r in read_audit(settings)]
    assert actions == [
        AccessAction.POLICY_CHANGE,
        AccessAction.READ,
        AccessAction.READ,
        AccessAction.POLICY_CHANGE,
        AccessAction.READ,
    ]
    first, second = (r for r in read_audit(settings) if r.action is AccessAction.POLICY_CHANGE)
    assert json.loads(second.detail or "{}")["previous_sha256"] == first.policy_sha256 != second.policy_sha256


def test_compaction_keeps_every_audit_row_in_fewer_files_and_deletes_stay_refused(monkeypatch, tmp_path):
    from sluice.access.audit import compact_audit

    settings = sluice_home(monkeypatch, tmp_path)
    assert compact_audit(settings) is None  # no audit yet: nothing to do
    for n in range(12):
        action = AccessAction.READ if n % 3 else AccessAction.DECRYPT
        record_access(AccessRecord(action, f"user-{n}", "https://idp.test", dataset="customers"), settings=settings)
    before = sorted(r.subject for r in read_audit(settings))

    result = compact_audit(settings)

    assert result is not None and result.files_before == 12 and result.files_after == 2  # one per action
    assert sorted(r.subject for r in read_audit(settings)) == before
    with pytest.raises(Exception, match=r"(?i)append"):
        DeltaTable(settings.audit_root()).delete("subject = 'user-1'")
