"""Row conservation: read == written + quarantined + duplicate, or the run fails loudly."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sluice.errors import ConservationError
from sluice.runs.records import FileOutcome, FileStatus, RunReport, ensure_conserved


def _report(read: int, written: int, quarantined: int, duplicate: int, valid: int | None = None) -> RunReport:
    f = FileOutcome(
        uri="x",
        order=0,
        status=FileStatus.COMMITTED,
        rows_read=read,
        rows_valid=written + duplicate if valid is None else valid,
        rows_quarantined=quarantined,
    )
    return RunReport(
        run_id="r",
        dataset="orders",
        source="s",
        env="dev",
        started_at=datetime.now(timezone.utc),
        rows_read=read,
        rows_written=written,
        rows_quarantined=quarantined,
        rows_duplicate=duplicate,
        files=[f],
    )


@given(st.integers(0, 10**9), st.integers(0, 10**9), st.integers(0, 10**9))
def test_any_split_of_the_rows_read_is_conserved(written, quarantined, duplicate):
    ensure_conserved(_report(written + quarantined + duplicate, written, quarantined, duplicate))


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6), st.integers(1, 1000))
def test_a_lost_or_invented_row_is_always_caught(written, quarantined, duplicate, delta):
    read = written + quarantined + duplicate
    for wrong in (read + delta, max(read - delta, 0)):
        if wrong != read:
            with pytest.raises(ConservationError, match="does not add up"):
                ensure_conserved(_report(wrong, written, quarantined, duplicate))


def test_staged_rows_that_vanish_before_the_lake_are_caught():
    with pytest.raises(ConservationError, match="valid rows were staged"):
        ensure_conserved(_report(10, 5, 3, 2, valid=8))


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 3))
def test_a_keyed_run_adds_up_with_its_updated_deleted_and_unchanged_rows(written, updated, deleted, unchanged, lost):
    valid = written + updated + deleted + unchanged
    report = _report(valid + 2, written, 2, 0, valid=valid)
    report.rows_updated, report.rows_deleted, report.rows_unchanged = updated, deleted, unchanged
    ensure_conserved(report)
    if lost:
        report.rows_unchanged += lost
        with pytest.raises(ConservationError, match=f"unchanged {unchanged + lost:,}"):
            ensure_conserved(report)


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6))
def test_a_rolled_back_run_still_adds_up_when_the_rollback_undid_at_most_what_it_wrote(written, quarantined, undone):
    report = _report(written + quarantined, written, quarantined, 0)
    report.rows_rolled_back = undone
    if undone <= written:
        ensure_conserved(report)
    else:
        with pytest.raises(ConservationError, match="rolled back"):
            ensure_conserved(report)


def test_rows_held_for_a_parent_are_accounted_for_and_a_lost_one_is_caught():
    report = _report(10, 6, 1, 0)
    report.rows_held = 3
    ensure_conserved(report)
    report.rows_held = 2
    with pytest.raises(ConservationError, match="held 2"):
        ensure_conserved(report)
