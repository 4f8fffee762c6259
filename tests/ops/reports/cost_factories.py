"""Run records with measured use, for the cost report and the right-sizing hints."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sluice.runs.records import FileOutcome, FileStatus, RunReport

GB = 1_000_000_000
GIB = 1024**3


def measured_run(
    run_id: str = "run-1",
    *,
    dataset: str = "orders",
    kind: str = "s3",
    region: str = "eu-west-1",
    bytes_read: int = 2 * GB,
    bytes_written: int = GB,
    cpu_seconds: float = 7200.0,
    wall_seconds: float = 1800.0,
    workers: int = 2,
    worker_memory_bytes: int = 4 * GB,
    peak_memory_bytes: int = GIB,
    tasks: int = 4,
    finished_at: datetime | None = None,
    status: str = "completed",
) -> RunReport:
    finished = finished_at or datetime.now(timezone.utc) - timedelta(hours=1)
    return RunReport(
        run_id=run_id,
        dataset=dataset,
        source=f"{kind}://drop/{dataset}",
        env="dev",
        started_at=finished - timedelta(seconds=wall_seconds),
        finished_at=finished,
        status=status,
        bytes_read=bytes_read,
        files=[FileOutcome(uri=f"f{i}", order=i, status=FileStatus.COMMITTED) for i in range(tasks)],
        flow="ingest-files",
        source_kind=kind,
        source_region=region,
        read_measure="object sizes",
        bytes_written=bytes_written,
        cpu_seconds=cpu_seconds,
        peak_memory_bytes=peak_memory_bytes,
        workers=workers,
        worker_memory_bytes=worker_memory_bytes,
    )
