"""Small builders for ``ops`` tests: real Delta tables, a real SQLite metadata store, the CLI."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import CommitProperties, write_deltalake
from typer.testing import CliRunner, Result

from ops.cli import app
from sluice.runs.metastore import engine_for, save_run
from sluice.runs.records import FileOutcome, FileStatus, RunReport
from sluice.settings import Settings, get_settings
from sluice.validate.chunk import QUARANTINE_SCHEMA

T0 = datetime(2026, 3, 5, 10, 0, tzinfo=timezone.utc)


def sluice_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> Settings:
    """Point Sluice at ``tmp_path/home`` (plus ``SLUICE_<KEY>`` overrides) and return fresh settings."""
    monkeypatch.setenv("SLUICE_HOME", str(tmp_path / "home"))
    for key, value in env.items():
        monkeypatch.setenv(f"SLUICE_{key.upper()}", value)
    return get_settings(fresh=True)


def invoke(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=input)


def closed_port_url() -> str:
    """An http URL on a local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/api"


@dataclass
class QuarantineRow:
    dataset: str = "customers"
    dt: date = date(2026, 3, 5)
    run_id: str = "run-1"
    batch_id: str = "batch-1"
    source_file: str = "s3://drop/customers/2026-03-05.csv"
    source_row: int = 2
    reason: str = "pattern_mismatch"
    check: str = "str_matches"
    column: str | None = "country"
    value: str | None = "Germany"
    failures: str = "country:pattern_mismatch"
    record: dict[str, str | None] = field(
        default_factory=lambda: {
            "customer_id": "C000001",
            "full_name": "Ann Smith",
            "email": "ann@example.com",
            "country": "Germany",
        }
    )
    quarantined_at: datetime = T0

    def arrow(self) -> dict[str, object]:
        data = dict(self.__dict__)
        data["record"] = list(self.record.items())
        return data


def write_quarantine(settings: Settings, rows: list[QuarantineRow]) -> str:
    uri = settings.quarantine_root()
    table = pa.Table.from_pylist([r.arrow() for r in rows], schema=QUARANTINE_SCHEMA)
    write_deltalake(uri, table, mode="append", partition_by=["dataset", "dt"])
    return uri


def write_lake_commit(
    settings: Settings, dataset: str, *, run_id: str, counts: dict[str, int], sources: int = 1, mode: str = "append"
) -> str:
    """Commit a few rows to ``dataset``'s table with the metadata a Sluice run records."""
    uri = f"{settings.lake_root()}/{dataset}"
    metadata = {
        "sluice.run_id": run_id,
        "sluice.counts": json.dumps(counts),
        "sluice.sources": json.dumps([{"uri": f"s3://drop/{i}.csv"} for i in range(sources)]),
    }
    rows = pa.table({"id": pa.array(["a", "b"]), "dt": pa.array([date(2026, 3, 5)] * 2)})
    write_deltalake(
        uri,
        rows,
        mode=mode,
        partition_by=["dt"],  # type: ignore[call-overload]
        commit_properties=CommitProperties(custom_metadata=metadata),
    )
    return uri


def run_report(
    run_id: str = "run-1",
    *,
    dataset: str = "orders",
    rows_read: int = 10,
    rows_written: int = 7,
    rows_quarantined: int = 2,
    rows_duplicate: int = 1,
    started_at: datetime = T0,
    files: list[FileOutcome] | None = None,
) -> RunReport:
    return RunReport(
        run_id=run_id,
        dataset=dataset,
        source="s3://drop/orders",
        env="dev",
        started_at=started_at,
        finished_at=started_at + timedelta(seconds=42),
        status="completed",
        rows_read=rows_read,
        rows_written=rows_written,
        rows_quarantined=rows_quarantined,
        rows_duplicate=rows_duplicate,
        files=files if files is not None else [file_outcome()],
    )


def file_outcome(
    uri: str = "s3://drop/orders/a.csv",
    *,
    status: FileStatus = FileStatus.COMMITTED,
    error: str = "",
    rows_read: int = 10,
) -> FileOutcome:
    return FileOutcome(uri=uri, order=0, status=status, encoding="utf-8", rows_read=rows_read, error=error)


def save_runs(settings: Settings, *reports: RunReport) -> None:
    with engine_for(settings.metadata_db_url()).begin() as conn:
        for report in reports:
            save_run(conn, report)
