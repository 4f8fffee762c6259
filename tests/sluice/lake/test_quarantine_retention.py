"""Quarantine retention: entries ingested before the cutoff are deleted, newer ones stay, also while writers add."""

from __future__ import annotations

import threading
from datetime import date, datetime, timezone

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
from pyarrow import feather

from sluice.lake.quarantine import purge_before
from sluice.lake.write import commit_quarantine
from sluice.validate.chunk import QUARANTINE_SCHEMA


def _entries(day: date, n: int, run: str) -> pa.Table:
    rows = [
        {
            "dataset": "orders",
            "dt": day,
            "run_id": run,
            "batch_id": "b",
            "source_file": "f.csv",
            "source_row": i,
            "reason": "out_of_range",
            "check": "c",
            "column": "amount",
            "value": "-1",
            "failures": "amount:out_of_range",
            "record": [("amount", "-1")],
            "quarantined_at": datetime(day.year, day.month, day.day, tzinfo=timezone.utc),
        }
        for i in range(n)
    ]
    return pa.Table.from_pylist(rows, schema=QUARANTINE_SCHEMA)


def _append(uri: str, table: pa.Table) -> None:
    write_deltalake(uri, table, mode="append", partition_by=["dataset", "dt"])


def test_entries_ingested_before_the_cutoff_are_deleted_and_newer_ones_stay(tmp_path) -> None:
    uri = str(tmp_path / "quarantine")
    _append(uri, _entries(date(2026, 1, 1), 3, "old"))
    _append(uri, _entries(date(2026, 3, 1), 2, "new"))

    assert purge_before(uri, date(2026, 2, 1)) == 3

    left = DeltaTable(uri).to_pyarrow_table()
    assert left.column("run_id").to_pylist() == ["new", "new"]
    assert purge_before(uri, date(2026, 2, 1)) == 0


def test_no_quarantine_yet_purges_nothing(tmp_path) -> None:
    assert purge_before(str(tmp_path / "none"), date(2026, 1, 1)) == 0


def test_a_purge_while_runs_quarantine_new_rows_keeps_every_new_row(tmp_path) -> None:
    uri = str(tmp_path / "quarantine")
    _append(uri, _entries(date(2026, 1, 1), 5, "old"))
    errors: list[Exception] = []

    def writer(w: int) -> None:
        try:
            for i in range(4):
                staged = tmp_path / f"staged-{w}-{i}.arrow"
                feather.write_feather(_entries(date(2026, 3, 1), 1, f"w{w}-{i}"), staged)
                commit_quarantine(uri, {f"b{w}-{i}": [staged]}, dataset="orders", metadata={})
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    deleted = purge_before(uri, date(2026, 2, 1))
    for t in threads:
        t.join()

    runs = sorted(DeltaTable(uri).to_pyarrow_table().column("run_id").to_pylist())
    assert not errors and deleted == 5
    assert runs == sorted(f"w{w}-{i}" for w in range(3) for i in range(4))
