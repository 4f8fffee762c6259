"""The report drawn as a PNG."""

from __future__ import annotations

from datetime import datetime, timezone

from ops.reports.models import DurationStats, Report
from ops.reports.plot import plot_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _report(**overrides) -> Report:
    spec = dict(
        since=datetime(2026, 2, 1, tzinfo=timezone.utc),
        until=datetime(2026, 3, 3, tzinfo=timezone.utc),
        drills_included=False,
        incidents=3,
        open_incidents=1,
        mtta=DurationStats(3, 5.0, 4.0),
        mttr=DurationStats(2, 40.0, 40.0),
        by_severity={"SEV1": 1, "SEV2": 2, "SEV3": 0, "SEV4": 0},
        by_source={"alert": 1, "flow-failure": 2},
        by_flow={"ingest-files": 3},
        repeat_offenders=(),
        overdue_actions=(),
    )
    spec.update(overrides)
    return Report(**spec)


def test_the_report_is_written_as_a_png(tmp_path):
    target = plot_report(_report(), tmp_path / "charts" / "report.png")

    assert target.read_bytes().startswith(PNG_MAGIC)


def test_an_empty_report_still_draws(tmp_path):
    empty = _report(incidents=0, mtta=DurationStats(0, None, None), mttr=DurationStats(0, None, None), by_flow={})

    assert plot_report(empty, tmp_path / "empty.png").read_bytes().startswith(PNG_MAGIC)
