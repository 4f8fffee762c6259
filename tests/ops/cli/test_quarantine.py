from __future__ import annotations

import json
from datetime import date, datetime, timezone

import pytest

from tests.ops.factories import QuarantineRow, invoke, sluice_home, write_quarantine


def three_entries() -> list[QuarantineRow]:
    return [
        QuarantineRow(source_row=2),
        QuarantineRow(
            source_row=5,
            reason="too_long",
            check="str_length",
            column="email",
            value="x" * 300,
            failures="email:too_long",
            run_id="run-2",
            dt=date(2026, 3, 7),
            quarantined_at=datetime(2026, 3, 7, tzinfo=timezone.utc),
        ),
        QuarantineRow(
            dataset="orders",
            source_file="s3://drop/orders/o.csv",
            source_row=9,
            column="amount",
            reason="out_of_range",
            check="greater_than_or_equal_to(0)",
            value="-5",
            failures="amount:out_of_range",
            record={"order_id": "9", "amount": "-5", "email": "bob@example.com"},
        ),
    ]


def test_list_without_quarantine_table_prints_empty_json_and_exits_0(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)

    result = invoke("quarantine", "list", "--output", "json")

    assert result.exit_code == 0
    assert json.loads(result.stdout) == []
    assert "no quarantine yet" in result.stderr and "run an ingestion first" in result.stderr


def test_list_json_has_every_field_with_iso_dates_newest_first(monkeypatch, tmp_path):
    write_quarantine(sluice_home(monkeypatch, tmp_path), three_entries())

    entries = json.loads(invoke("quarantine", "list", "-o", "json").stdout)

    assert [e["source_row"] for e in entries] == [5, 2, 9]
    assert set(entries[0]) == {
        "dataset",
        "dt",
        "run_id",
        "batch_id",
        "source_file",
        "source_row",
        "reason",
        "check",
        "column",
        "value",
        "failures",
        "record",
        "quarantined_at",
        "row_id",
    }
    assert entries[0]["dt"] == "2026-03-07"
    assert entries[0]["quarantined_at"] == "2026-03-07T00:00:00+00:00"


def test_list_masks_pii_columns_of_each_dataset_contract(monkeypatch, tmp_path):
    write_quarantine(sluice_home(monkeypatch, tmp_path), three_entries())

    entries = json.loads(invoke("quarantine", "list", "-o", "json").stdout)

    by_row = {e["source_row"]: e for e in entries}
    assert by_row[2]["record"] == {"customer_id": "C000001", "full_name": "***", "email": "***", "country": "Germany"}
    assert by_row[5]["value"] == "***"  # the failing column is itself PII
    assert by_row[9]["record"]["email"] == "***" and by_row[9]["record"]["amount"] == "-5"


def test_reveal_pii_shows_original_values_and_warns(monkeypatch, tmp_path):
    write_quarantine(sluice_home(monkeypatch, tmp_path), three_entries())

    result = invoke("quarantine", "list", "--dataset", "customers", "--reveal-pii", "-o", "json")

    records = [e["record"] for e in json.loads(result.stdout)]
    assert {r["email"] for r in records} == {"ann@example.com"}
    assert "PII" in result.stderr


def test_unknown_dataset_contract_masks_every_value(monkeypatch, tmp_path):
    row = QuarantineRow(dataset="legacy", record={"id": "1", "note": "secret"}, value="secret", column="note")
    write_quarantine(sluice_home(monkeypatch, tmp_path), [row])

    result = invoke("quarantine", "list", "-o", "json")

    entry = json.loads(result.stdout)[0]
    assert entry["record"] == {"id": "***", "note": "***"} and entry["value"] == "***"
    assert "legacy" in result.stderr


@pytest.mark.parametrize(
    ("args", "rows"),
    [
        (["--dataset", "orders"], [9]),
        (["--run", "run-2"], [5]),
        (["--reason", "pattern_mismatch"], [2]),
        (["--since", "2026-03-06"], [5]),
        (["--limit", "1"], [5]),
    ],
)
def test_list_filters(monkeypatch, tmp_path, args, rows):
    write_quarantine(sluice_home(monkeypatch, tmp_path), three_entries())

    result = invoke("quarantine", "list", *args, "-o", "json")

    assert [e["source_row"] for e in json.loads(result.stdout)] == rows


def test_summary_counts_by_dataset_reason_and_column(monkeypatch, tmp_path):
    rows = [*three_entries(), QuarantineRow(source_row=3), QuarantineRow(source_row=4)]
    write_quarantine(sluice_home(monkeypatch, tmp_path), rows)

    result = invoke("quarantine", "list", "--summary", "-o", "json")

    assert json.loads(result.stdout) == [
        {"dataset": "customers", "reason": "pattern_mismatch", "column": "country", "rows": 3},
        {"dataset": "customers", "reason": "too_long", "column": "email", "rows": 1},
        {"dataset": "orders", "reason": "out_of_range", "column": "amount", "rows": 1},
    ]


def test_list_table_shows_source_and_reason(monkeypatch, tmp_path):
    monkeypatch.setenv("COLUMNS", "200")
    write_quarantine(sluice_home(monkeypatch, tmp_path), three_entries())

    result = invoke("quarantine", "list", "--dataset", "orders")

    assert result.exit_code == 0
    (row,) = [line.split() for line in result.stdout.splitlines() if "s3://drop/orders/o.csv" in line]
    assert row[row.index("s3://drop/orders/o.csv") + 1 :][:2] == ["9", "out_of_range"]  # the source, its row, why
    assert "bob@example.com" not in result.stdout


def test_unknown_reason_is_a_usage_error(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)

    result = invoke("quarantine", "list", "--reason", "bogus")

    assert result.exit_code == 2
    assert "out_of_range" in result.output


def test_show_picks_the_row_by_file_substring_with_masked_record(monkeypatch, tmp_path):
    rows = [QuarantineRow(source_row=2), QuarantineRow(source_row=2, source_file="s3://drop/other.csv")]
    write_quarantine(sluice_home(monkeypatch, tmp_path), rows)

    result = invoke("quarantine", "show", "customers", "2", "--file", "2026-03-05", "-o", "json")

    [entry] = json.loads(result.stdout)
    assert entry["source_file"] == "s3://drop/customers/2026-03-05.csv"
    assert entry["record"]["full_name"] == "***" and entry["record"]["country"] == "Germany"


def test_show_table_lists_original_values(monkeypatch, tmp_path):
    monkeypatch.setenv("COLUMNS", "200")
    write_quarantine(sluice_home(monkeypatch, tmp_path), [QuarantineRow()])

    result = invoke("quarantine", "show", "customers", "2", "--reveal-pii")

    assert result.exit_code == 0
    for text in ("customer_id", "C000001", "Ann Smith", "ann@example.com", "country:pattern_mismatch", "run-1"):
        assert text in result.stdout


def test_show_of_a_missing_row_fails_with_hint(monkeypatch, tmp_path):
    write_quarantine(sluice_home(monkeypatch, tmp_path), [QuarantineRow()])

    result = invoke("quarantine", "show", "customers", "99")

    assert result.exit_code == 1
    assert "error: no quarantine entry for row 99 of customers" in result.stderr
    assert "hint: find entries with `ops quarantine list --dataset customers`" in result.stderr
    assert result.stdout == ""


def test_whole_line_of_an_unsplittable_row_is_masked_when_the_dataset_has_pii(monkeypatch, tmp_path):
    row = QuarantineRow(
        reason="malformed_row",
        check="parse_record",
        column="",
        value="expected 8 fields, found 2",
        failures="record:malformed_row",
        record={"_raw": "C000009,ann@example.com"},
    )
    write_quarantine(sluice_home(monkeypatch, tmp_path), [row])

    [entry] = json.loads(invoke("quarantine", "list", "-o", "json").stdout)

    assert entry["record"] == {"_raw": "***"}
    assert entry["value"] == "expected 8 fields, found 2"
