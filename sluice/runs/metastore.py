"""The metadata store: run and file records, dataset leases and legal holds, in SQLite (default) or PostgreSQL.

Functions take a SQLAlchemy ``Connection`` and never commit; the caller owns
the transaction (``with engine.begin() as conn: ...``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import overload

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sluice.errors import ConfigError
from sluice.runs.completeness import TotalsCheck
from sluice.runs.records import FileOutcome, FileStatus, RunReport

metadata = sa.MetaData()

ingest_runs = sa.Table(
    "ingest_runs",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("dataset", sa.String(128), nullable=False, index=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("env", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("rows_read", sa.BigInteger, nullable=False, default=0),
    sa.Column("rows_written", sa.BigInteger, nullable=False, default=0),
    sa.Column("rows_quarantined", sa.BigInteger, nullable=False, default=0),
    sa.Column("rows_duplicate", sa.BigInteger, nullable=False, default=0),
    sa.Column("rows_updated", sa.BigInteger, nullable=False, default=0, server_default="0"),
    sa.Column("rows_deleted", sa.BigInteger, nullable=False, default=0, server_default="0"),
    sa.Column("rows_unchanged", sa.BigInteger, nullable=False, default=0, server_default="0"),
    sa.Column("bytes_read", sa.BigInteger, nullable=False, default=0),
    sa.Column("files_committed", sa.Integer, nullable=False, default=0),
    sa.Column("files_skipped", sa.Integer, nullable=False, default=0),
    sa.Column("files_failed", sa.Integer, nullable=False, default=0),
    sa.Column("lake_version", sa.Integer),
    sa.Column("watermark", sa.DateTime(timezone=True)),
    sa.Column("stage_seconds", sa.Text, nullable=False, default="{}"),
    sa.Column("warnings", sa.Text, nullable=False, default="{}"),
    sa.Column("error", sa.Text, nullable=False, default=""),
    # Rows written before the column existed hold "": readers tell their flow by the source.
    sa.Column("flow", sa.String(64), nullable=False, default="", server_default=sa.text("''")),
    sa.Column("rows_rolled_back", sa.BigInteger, nullable=False, default=0, server_default="0"),
    # The version of the rollback commit that undid the run's commit; 0: none (a rollback is never version 0).
    sa.Column("rollback_version", sa.Integer, nullable=False, default=0, server_default="0"),
    # What the run cost (sluice.runs.usage); rows written before these columns hold "" and 0.
    sa.Column("source_kind", sa.String(32), nullable=False, default="", server_default=sa.text("''")),
    sa.Column("source_region", sa.String(64), nullable=False, default="", server_default=sa.text("''")),
    sa.Column("read_measure", sa.String(64), nullable=False, default="", server_default=sa.text("''")),
    sa.Column("bytes_written", sa.BigInteger, nullable=False, default=0, server_default="0"),
    sa.Column("cpu_seconds", sa.Float, nullable=False, default=0.0, server_default="0"),
    sa.Column("peak_memory_bytes", sa.BigInteger, nullable=False, default=0, server_default="0"),
    sa.Column("workers", sa.Integer, nullable=False, default=0, server_default="0"),
    sa.Column("worker_memory_bytes", sa.BigInteger, nullable=False, default=0, server_default="0"),
    # Each batch's control totals, the source's and what was read, as JSON (sluice.runs.completeness).
    sa.Column("control_totals", sa.Text, nullable=False, default="[]", server_default=sa.text("'[]'")),
    # Rows kept back for a parent, and rows whose reference the parent lacked (sluice.validate.references).
    sa.Column("rows_held", sa.BigInteger, nullable=False, default=0, server_default="0"),
    sa.Column("rows_orphaned", sa.BigInteger, nullable=False, default=0, server_default="0"),
)

USAGE_FIELDS = (
    "source_kind",
    "source_region",
    "read_measure",
    "bytes_written",
    "cpu_seconds",
    "peak_memory_bytes",
    "workers",
    "worker_memory_bytes",
)

ingest_files = sa.Table(
    "ingest_files",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), sa.ForeignKey("ingest_runs.run_id"), nullable=False, index=True),
    sa.Column("uri", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False, default=""),
    sa.Column("batch_id", sa.String(64), nullable=False, default=""),
    sa.Column("bytes", sa.BigInteger, nullable=False, default=0),
    sa.Column("encoding", sa.String(32), nullable=False, default=""),
    sa.Column("rows_read", sa.BigInteger, nullable=False, default=0),
    sa.Column("rows_quarantined", sa.BigInteger, nullable=False, default=0),
    sa.Column("extra_columns", sa.Text, nullable=False, default="[]"),
    sa.Column("missing_columns", sa.Text, nullable=False, default="[]"),
    sa.Column("error", sa.Text, nullable=False, default=""),
)


# One row per dataset: who may commit to its lake table, until when, and a
# fencing token that grows with every acquisition. A released or expired row
# stays, so the token never goes back.
dataset_leases = sa.Table(
    "dataset_leases",
    metadata,
    sa.Column("dataset", sa.String(128), primary_key=True),
    sa.Column("holder", sa.String(256), nullable=False),
    sa.Column("token", sa.BigInteger, nullable=False),
    sa.Column("expires_at_ms", sa.BigInteger, nullable=False),
    sa.Column("acquired_at_ms", sa.BigInteger, nullable=False),
)


# Legal holds (sluice.retention.holds): a hold on a dataset blocks retention deletes and erasure there; with a
# subject (its column and the sha256 of its value, never the value) it blocks that subject's erasure there.
legal_holds = sa.Table(
    "legal_holds",
    metadata,
    sa.Column("hold_id", sa.String(32), primary_key=True),
    sa.Column("dataset", sa.String(128), nullable=False, index=True),
    sa.Column("subject_key", sa.String(128), nullable=False, default=""),
    sa.Column("subject_hash", sa.String(64), nullable=False, default=""),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("released_at", sa.DateTime(timezone=True)),
)


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    """An engine for ``url``; creates the SQLite folder and the tables if missing.

    Processes that open a new store at once take turns creating it: on SQLite through a lock file beside
    the database (one host), elsewhere by retrying what another process created between check and create.
    """
    turns: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        turns = _file_lock(path.with_name(path.name + ".init-lock"))
    engine = sa.create_engine(url, pool_pre_ping=True)
    with turns:
        for attempt in range(CREATE_ATTEMPTS):
            try:
                metadata.create_all(engine)
                _add_missing_columns(engine)
                break
            except sa.exc.DBAPIError:  # another process created a table or column between the check and the create
                if attempt == CREATE_ATTEMPTS - 1:
                    raise
    return engine


CREATE_ATTEMPTS = 5


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _add_missing_columns(engine: Engine) -> None:
    """Add to existing tables the columns added to their definitions since (each with its server default)."""
    inspector = sa.inspect(engine)
    for table in metadata.sorted_tables:
        have = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in have or column.server_default is None:
                continue
            kind = column.type.compile(dialect=engine.dialect)
            default = column.server_default.arg  # type: ignore[attr-defined]
            with engine.begin() as conn:
                conn.execute(
                    sa.text(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind} NOT NULL DEFAULT {default}")
                )


def _run_row(report: RunReport) -> dict[str, object]:
    return {
        "run_id": report.run_id,
        "dataset": report.dataset,
        "source": report.source,
        "env": report.env,
        "status": report.status,
        "started_at": report.started_at,
        "finished_at": report.finished_at,
        "rows_read": report.rows_read,
        "rows_written": report.rows_written,
        "rows_quarantined": report.rows_quarantined,
        "rows_duplicate": report.rows_duplicate,
        "rows_updated": report.rows_updated,
        "rows_deleted": report.rows_deleted,
        "rows_unchanged": report.rows_unchanged,
        "bytes_read": report.bytes_read,
        "files_committed": len(report.files_committed),
        "files_skipped": len(report.files_skipped),
        "files_failed": len(report.files_failed),
        "lake_version": report.lake_version,
        "watermark": report.watermark,
        "stage_seconds": json.dumps(report.stage_seconds),
        "warnings": json.dumps(report.warnings),
        "error": report.error,
        "flow": report.flow,
        "rows_rolled_back": report.rows_rolled_back,
        "rollback_version": report.rollback_version or 0,
        "rows_held": report.rows_held,
        "rows_orphaned": report.rows_orphaned,
        **{name: getattr(report, name) for name in USAGE_FIELDS},
        "control_totals": json.dumps([asdict(c) for c in report.control_totals]),
    }


def _file_row(run_id: str, f: FileOutcome) -> dict[str, object]:
    return {
        "run_id": run_id,
        "uri": f.uri,
        "status": f.status.value,
        "sha256": f.sha256,
        "batch_id": f.batch_id,
        "bytes": f.bytes,
        "encoding": f.encoding,
        "rows_read": f.rows_read,
        "rows_quarantined": f.rows_quarantined,
        "extra_columns": json.dumps(f.extra_columns),
        "missing_columns": json.dumps(f.missing_columns),
        "error": f.error,
    }


def save_run(conn: Connection, report: RunReport) -> None:
    """Insert or replace the record of ``report`` and its files."""
    conn.execute(sa.delete(ingest_files).where(ingest_files.c.run_id == report.run_id))
    conn.execute(sa.delete(ingest_runs).where(ingest_runs.c.run_id == report.run_id))
    conn.execute(sa.insert(ingest_runs).values(**_run_row(report)))
    if report.files:
        conn.execute(sa.insert(ingest_files), [_file_row(report.run_id, f) for f in report.files])


def mark_rolled_back(conn: Connection, run_id: str, version: int) -> bool:
    """Record that the rollback commit ``version`` undid run ``run_id``'s commit; False if there is no such run.

    Every row the run wrote, updated or deleted counts as rolled back; the other counts stay, so they still add up.
    """
    c = ingest_runs.c
    updated = conn.execute(
        sa.update(ingest_runs)
        .where(c.run_id == run_id)
        .values(rows_rolled_back=c.rows_written + c.rows_updated + c.rows_deleted, rollback_version=version)
    )
    return updated.rowcount == 1


@overload
def _aware(value: datetime) -> datetime: ...
@overload
def _aware(value: None) -> None: ...
def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def list_runs(conn: Connection, *, dataset: str | None = None, limit: int = 20) -> list[RunReport]:
    query = sa.select(ingest_runs).order_by(ingest_runs.c.started_at.desc()).limit(limit)
    if dataset:
        query = query.where(ingest_runs.c.dataset == dataset)
    return [_report(conn, row) for row in conn.execute(query).mappings()]


def finished_runs(conn: Connection, *, since: datetime | None = None) -> list[RunReport]:
    """Runs that finished at or after ``since`` (all finished runs without it), oldest first."""
    query = sa.select(ingest_runs).where(ingest_runs.c.finished_at.is_not(None))
    if since is not None:
        query = query.where(ingest_runs.c.finished_at >= _aware(since).astimezone(timezone.utc))
    return [_report(conn, row) for row in conn.execute(query.order_by(ingest_runs.c.finished_at)).mappings()]


def get_run(conn: Connection, run_id: str) -> RunReport | None:
    """The run with id ``run_id``, or the only one whose id starts with it.

    Raises:
        ConfigError: the prefix matches several runs.
    """
    row = conn.execute(sa.select(ingest_runs).where(ingest_runs.c.run_id == run_id)).mappings().first()
    if row is None and len(run_id) >= 4:
        prefixed = sa.select(ingest_runs).where(ingest_runs.c.run_id.startswith(run_id)).limit(2)
        rows = conn.execute(prefixed).mappings().all()
        if len(rows) > 1:
            raise ConfigError(f"run id prefix {run_id!r} matches several runs", hint="give more characters")
        row = rows[0] if rows else None
    return _report(conn, row) if row else None


def _report(conn: Connection, row: sa.RowMapping) -> RunReport:
    files = [
        FileOutcome(
            uri=f["uri"],
            order=i,
            status=FileStatus(f["status"]),
            sha256=f["sha256"],
            batch_id=f["batch_id"],
            bytes=f["bytes"],
            encoding=f["encoding"],
            rows_read=f["rows_read"],
            rows_quarantined=f["rows_quarantined"],
            extra_columns=json.loads(f["extra_columns"]),
            missing_columns=json.loads(f["missing_columns"]),
            error=f["error"],
        )
        for i, f in enumerate(
            conn.execute(
                sa.select(ingest_files).where(ingest_files.c.run_id == row["run_id"]).order_by(ingest_files.c.id)
            ).mappings()
        )
    ]
    return RunReport(
        run_id=row["run_id"],
        dataset=row["dataset"],
        source=row["source"],
        env=row["env"],
        started_at=_aware(row["started_at"]),
        finished_at=_aware(row["finished_at"]),
        status=row["status"],
        rows_read=row["rows_read"],
        rows_written=row["rows_written"],
        rows_quarantined=row["rows_quarantined"],
        rows_duplicate=row["rows_duplicate"],
        rows_updated=row["rows_updated"],
        rows_deleted=row["rows_deleted"],
        rows_unchanged=row["rows_unchanged"],
        bytes_read=row["bytes_read"],
        lake_version=row["lake_version"],
        watermark=_aware(row["watermark"]),
        stage_seconds=json.loads(row["stage_seconds"]),
        warnings=json.loads(row["warnings"]),
        files=files,
        error=row["error"],
        flow=row["flow"],
        rows_rolled_back=row["rows_rolled_back"],
        rollback_version=row["rollback_version"] or None,
        rows_held=row["rows_held"],
        rows_orphaned=row["rows_orphaned"],
        **{name: row[name] for name in USAGE_FIELDS},
        control_totals=[TotalsCheck(**c) for c in json.loads(row["control_totals"] or "[]")],
    )
