"""A capture run's counts add up for any batches the capture can report (hypothesis)."""

from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import given
from hypothesis import strategies as st

from flows.capture_changes import fill_report
from sluice.runs.records import FileStatus, RunReport, ensure_conserved
from sluice.sources.cdc.capture import BatchReport


@st.composite
def batches(draw: st.DrawFn) -> BatchReport:
    txns = draw(st.integers(1, 10_000))
    changes = draw(st.integers(0, 100_000))
    written = draw(st.integers(0, changes))  # the lake's key drops a change it holds already
    updated = draw(st.integers(0, changes - written))  # a keyed table also updates, deletes, leaves unchanged
    deleted = draw(st.integers(0, changes - written - updated))
    return BatchReport(
        transactions=txns,
        skipped=draw(st.integers(0, txns)),
        changes=changes,
        rows_written=written,
        slot_lsn=draw(st.none() | st.integers(0, 2**63 - 1)),
        rows_updated=updated,
        rows_deleted=deleted,
        rows_unchanged=draw(st.integers(0, changes - written - updated - deleted)),
    )


@given(st.lists(batches(), max_size=50), st.text(max_size=80))
def test_counts_add_up_for_any_batches_and_any_slot_name(found: list[BatchReport], slot: str) -> None:
    report = RunReport("r", "accounts", "postgres-cdc", "dev", datetime.now(timezone.utc))

    fill_report(report, slot, found)
    ensure_conserved(report)

    assert report.rows_read == sum(b.changes for b in found)
    assert report.rows_read == (
        report.rows_written + report.rows_updated + report.rows_deleted + report.rows_unchanged + report.rows_duplicate
    )
    assert report.rows_deleted == sum(b.rows_deleted for b in found)
    assert len({f.uri for f in report.files}) == len(found)
    assert [f.status is FileStatus.SKIPPED for f in report.files] == [b.changes == 0 for b in found]
