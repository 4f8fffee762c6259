"""What a staging step used, noted on its outcome, and summed into the run."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from sluice.runs.records import FileOutcome, FileStatus, RunReport
from sluice.runs.usage import add_usage, bucket_region, measured, read_measure, source_kind


def _busy() -> FileOutcome:
    total = 0
    for i in range(300_000):
        total += i * i
    return FileOutcome(uri="f", order=0, status=FileStatus.COMMITTED, rows_read=total % 7)


def test_a_measured_step_notes_its_cpu_seconds_and_peak_memory_outside_a_worker():
    out = measured(_busy)

    assert out.cpu_seconds > 0
    assert out.peak_memory_bytes > 0
    assert (out.worker, out.worker_memory_bytes) == ("", 0)


def test_a_step_that_stages_nothing_stays_nothing():
    assert measured(lambda: None) is None


@pytest.mark.parametrize(
    ("source", "kind", "measure"),
    [
        ("s3://drop/orders", "s3", "object sizes"),
        ("/data/drop", "files", "file sizes"),
        ("file:///data/drop", "files", "file sizes"),
        ("postgresql://app@db:5432/shop/orders", "postgresql", "arrow nbytes"),
        ("mariadb://app@db:3306/shop/orders", "mariadb", "arrow nbytes"),
    ],
)
def test_the_source_kind_and_how_its_reads_are_measured(source, kind, measure):
    assert source_kind(source) == kind
    assert read_measure(kind) == measure


@pytest.mark.parametrize("broker", ["kafka", "redis", "rabbitmq"])
def test_a_stream_reads_are_measured_in_message_bytes(broker):
    assert read_measure(broker) == "message bytes"


def test_a_source_that_is_not_s3_has_no_bucket_region():
    assert bucket_region("/data/drop", {}) == ""


def test_a_runs_usage_sums_its_files_cpu_and_takes_the_highest_peak_and_worker_memory():
    files = [
        FileOutcome(
            "a", 0, FileStatus.COMMITTED, cpu_seconds=1.5, peak_memory_bytes=10, worker="w1", worker_memory_bytes=4
        ),
        FileOutcome(
            "b", 1, FileStatus.FAILED, cpu_seconds=0.5, peak_memory_bytes=30, worker="w2", worker_memory_bytes=4
        ),
        FileOutcome(
            "c", 2, FileStatus.SKIPPED, cpu_seconds=0.25, peak_memory_bytes=20, worker="w1", worker_memory_bytes=4
        ),
    ]
    report = RunReport("r", "orders", "/d", "dev", datetime.now(timezone.utc), files=files)

    add_usage(report, extra_cpu_seconds=1.0)

    assert report.cpu_seconds == pytest.approx(3.25)
    assert (report.peak_memory_bytes, report.workers, report.worker_memory_bytes) == (30, 2, 4)
