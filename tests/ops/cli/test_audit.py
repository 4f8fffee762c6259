"""``ops audit list|export``: filters by dataset, principal, action and time; JSON Lines and CSV carry every field."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone

from sluice.access.audit import AccessAction, AccessRecord, record_access
from tests.ops.factories import invoke, sluice_home

NOW = datetime.now(timezone.utc)


def seed(settings) -> None:
    record_access(
        AccessRecord(
            AccessAction.READ,
            "ana",
            "https://idp.test",
            dataset="customers",
            columns=("email", "country"),
            rows=12,
            where="country = 'DE'",
            reason="churn, Q3",
            at=NOW - timedelta(days=3),
        ),
        AccessRecord(AccessAction.DENIED, "eve", "https://idp.test", dataset="customers", at=NOW - timedelta(hours=2)),
        AccessRecord(
            AccessAction.REVEAL_PII,
            "oncall",
            "local",
            dataset="orders",
            columns=("email",),
            rows=1,
            reason="INC-9",
            at=NOW - timedelta(hours=1),
        ),
        settings=settings,
    )


def test_list_filters_by_dataset_principal_action_and_since(monkeypatch, tmp_path):
    settings = sluice_home(monkeypatch, tmp_path)
    seed(settings)

    def subjects(*args: str) -> list[str]:
        result = invoke("audit", "list", "-o", "json", *args)
        assert result.exit_code == 0, result.output
        return [r["subject"] for r in json.loads(result.stdout)]

    assert subjects() == ["ana", "eve", "oncall"]
    assert subjects("--dataset", "customers") == ["ana", "eve"]
    assert subjects("--principal", "oncall") == ["oncall"]
    assert subjects("--since", "1d") == ["eve", "oncall"]
    assert subjects("--since", (NOW - timedelta(hours=1, minutes=30)).isoformat()) == ["oncall"]
    assert subjects("--action", "denied") == ["eve"]


def test_list_as_a_table_fits_80_columns(monkeypatch, tmp_path):
    from ops.cli._utilities import console

    settings = sluice_home(monkeypatch, tmp_path)
    seed(settings)
    monkeypatch.setattr(console, "_width", 80)

    result = invoke("audit", "list")

    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.stdout.splitlines()) <= 80 and "3 record(s)" in result.stdout


def test_export_jsonl_and_csv_hold_every_record_and_field(monkeypatch, tmp_path):
    settings = sluice_home(monkeypatch, tmp_path)
    seed(settings)

    lines = invoke("audit", "export", "--format", "jsonl").stdout.splitlines()
    out = tmp_path / "audit.csv"
    assert invoke("audit", "export", "--format", "csv", "--out", str(out)).exit_code == 0

    first = json.loads(lines[0])
    assert len(lines) == 3 and first["columns"] == ["email", "country"] and first["reason"] == "churn, Q3"
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [r["subject"] for r in rows] == ["ana", "eve", "oncall"]
    assert rows[0]["columns"] == "email;country" and rows[0]["rows"] == "12" and rows[0]["reason"] == "churn, Q3"


def test_bad_filters_are_usage_errors_and_an_empty_audit_lists_nothing(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)

    assert invoke("audit", "list", "--since", "yesterday-ish").exit_code == 2
    assert invoke("audit", "list", "--action", "steal").exit_code == 2
    empty = invoke("audit", "list", "-o", "json")
    assert empty.exit_code == 0 and json.loads(empty.stdout) == []
