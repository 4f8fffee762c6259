"""The main job's summary: every count whole on an 80-column terminal."""

from __future__ import annotations

from rich.console import Console

from flows.demo import _summary
from tests.ops.factories import run_report


def test_the_summary_prints_every_count_whole_at_80_columns() -> None:
    big = run_report("r1", dataset="customers", rows_read=20_000_000, rows_written=19_012_345)
    big.rows_quarantined, big.rows_duplicate, big.lake_version = 600_123, 387_532, 1_234
    console = Console(width=80, record=True)

    console.print(_summary([big, run_report("r2")]))

    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    for number in ("20,000,000", "19,012,345", "600,123", "387,532", "1234", "customers"):
        assert number in text
