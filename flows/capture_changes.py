"""Flow ``capture-changes``: a PostgreSQL table's changes (logical decoding, wal2json) into the lake, exactly once.

Two ways to run it:

- **drain** (``follow_seconds=0``, the default): capture what the slot holds,
  then stop; for a frequent schedule;
- **follow** (``follow_seconds`` > 0, or ``None`` until cancelled): keep
  capturing, polling when idle and writing a heartbeat so a quiet database
  still frees its WAL.

Changes of an append contract go to ``<dataset>_changes``; those of an
upsert or scd2 contract are applied to ``<dataset>`` itself
(:mod:`sluice.sources.cdc.sink`).

The source is reached as ``ingest-table`` reaches it: a URL or the name of
one in ``SLUICE_DATABASES``, or a Prefect Secret block (``secret_block``),
with libpq's TLS parameters and, for a database behind an SSH bastion,
``ssh_host``, ``ssh_user``, ``ssh_port`` and ``ssh_key``: the run opens the
port forward (:mod:`sluice.sources.database_tunnel`) before it touches the
slot and closes it when it ends. A libpq ``key=value`` string is used as it
is (no tunnel).

A contract's ``references`` are checked per batch
(:mod:`sluice.sources.cdc.referenced`): orphans of a ``quarantine`` reference
are quarantined in the batch's commit, those of a ``warn`` one land with a
warning; a ``hold`` reference is refused before the slot is touched. After a
capture whose changes were applied to the dataset's own table, the held rows
of datasets referencing it are released.

Each run is recorded like a file ingestion (``ops runs``): one entry per
batch, ``rows_read`` the changes decoded, ``rows_quarantined`` the orphans
left out, ``rows_written`` the new rows
(new keys of a keyed table), ``rows_updated``, ``rows_deleted`` and
``rows_unchanged`` what a keyed table did with the rest, ``rows_duplicate``
those the lake already held or a later change of the key in the same batch
superseded. A run that fails records the batches it committed before the
failure. A failure opens an incident (runbook ``cdc-slot-lag``, or
``source-schema-change`` for a table the contract cannot take).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows.held_release import release_after_stream
from flows.hooks import INCIDENT_HOOKS
from sluice.errors import ConfigError
from sluice.lake.commit_size import commits_bytes
from sluice.lake.table import table_uri
from sluice.lake.verify import ensure_verifiable
from sluice.paths import ensure_dataset_name
from sluice.runs.records import FileOutcome, FileStatus, RunReport, ensure_conserved
from sluice.runs.usage import READ_MEASURES, add_process_usage
from sluice.settings import Settings, get_settings
from sluice.sources.cdc.capture import BatchReport
from sluice.sources.cdc.referenced import OrphanCounts
from sluice.sources.cdc.sink import source_name, target_table
from sluice.sources.database import Dialect, resolve_connection
from sluice.sources.database_tunnel import TunnelOptions, tunneled
from sluice.validate.contracts import Contract, find_contract
from sluice.validate.held_contracts import ensure_no_hold
from tasks.artifacts import RunArtifacts
from tasks.cdc import CaptureLedger, CaptureOutcome, CaptureRequest, capture_into_lake, prepare_slot, read_slot_lag
from tasks.database import secret_connection
from tasks.events import emit_committed
from tasks.records import publish_artifacts, record_failure, record_run

DSN_ENV = "SLUICE_CDC_DSN"


def _dsn(dsn: str | None, secret_block: str | None, settings: Settings, tunnel: contextlib.ExitStack) -> str:
    """The libpq URL the capture connects with; a database behind a bastion through a forward ``tunnel`` holds."""
    configured = settings.databases.cdc_dsn
    found = dsn or (configured.get_secret_value() if configured is not None else "")
    if not found and not secret_block:
        raise ConfigError(
            "capture-changes needs the source database",
            hint=f"pass dsn=postgresql://user@host/db (or secret_block=NAME) or set {DSN_ENV} on the worker",
        )
    db = settings.databases
    if secret_block:
        url = secret_connection(secret_block)
    elif "://" not in found and "=" in found:
        return found  # a libpq key=value string
    else:
        url = resolve_connection(found, {k: v.get_secret_value() for k, v in db.databases.items()})
    if url.dialect is not Dialect.POSTGRESQL:
        raise ConfigError(
            f"change capture reads PostgreSQL, not {url.dialect.value} ({url.shown()})",
            hint="give a postgresql:// URL; MariaDB tables are read with ingest-table (incremental)",
        )
    opened = tunnel.enter_context(tunneled(url, TunnelOptions(db.db_ssh_known_hosts, db.db_ssh_timeout_seconds)))
    return opened.libpq()


def batch_outcome(slot: str, order: int, batch: BatchReport) -> FileOutcome:
    """A batch as a run-record entry: its changes read and valid; skipped when the lake held all of it."""
    lsn = batch.as_dict()["slot_lsn"]
    return FileOutcome(
        uri=f"{source_name(slot)}@{lsn}#{order}",
        order=order,
        status=FileStatus.COMMITTED if batch.changes else FileStatus.SKIPPED,
        rows_read=batch.changes,
        rows_valid=batch.changes,
    )


def fill_report(
    report: RunReport, slot: str, batches: list[BatchReport], orphans: list[OrphanCounts] | None = None
) -> None:
    """The run's counts from its batches: read = written + updated + deleted + unchanged + quarantined + duplicate.

    ``orphans``: per batch, the orphans a contract's references found (quarantined ones did not land).
    """
    found = orphans or []
    report.files = [batch_outcome(slot, i, b) for i, b in enumerate(batches)]
    for out, counts in zip(report.files, found, strict=False):
        out.rows_quarantined, out.rows_orphaned = counts.quarantined, counts.orphans
        out.rows_valid -= counts.quarantined
    report.rows_read = sum(b.changes for b in batches)
    report.rows_written = sum(b.rows_written for b in batches)
    report.rows_updated = sum(b.rows_updated for b in batches)
    report.rows_deleted = sum(b.rows_deleted for b in batches)
    report.rows_unchanged = sum(b.rows_unchanged for b in batches)
    report.rows_quarantined = sum(c.quarantined for c in found)
    report.rows_orphaned = sum(c.orphans for c in found)
    for counts in found:
        for name, count in counts.warnings.items():
            report.warnings[name] = report.warnings.get(name, 0) + count
    # A batch's quarantined orphans did not land: the capture counts them among the changes not applied.
    report.duplicates_in_lake = sum(b.rows_duplicate for b in batches) - report.rows_quarantined
    report.rows_duplicate = report.duplicates_in_lake
    report.bytes_read = sum(b.bytes_read for b in batches)
    versions = committed_versions(batches)
    report.lake_version = versions[-1] if versions else None


def committed_versions(batches: list[BatchReport]) -> list[int]:
    """The table versions the run's batches committed, in order."""
    return sorted({b.version for b in batches if b.version is not None})


@dataclass(frozen=True)
class Landing:
    """Where a capture's changes land, and when (process CPU seconds) it started."""

    table: str
    uri: str
    storage_options: dict[str, str]
    cpu_start: float

    @classmethod
    def of(cls, contract: Contract, settings: Settings) -> Landing:
        table = target_table(contract)
        options = dict(settings.lake_storage_options)
        return cls(table, table_uri(settings.lake_root(), table), options, time.process_time())

    def measure(self, report: RunReport, batches: list[BatchReport]) -> None:
        """The run's cost fields: CPU and memory of this process, the bytes its commits added."""
        add_process_usage(report, time.process_time() - self.cpu_start)
        report.bytes_written = commits_bytes(self.uri, committed_versions(batches), report.run_id, self.storage_options)


@flow(name="capture-changes", log_prints=False, **INCIDENT_HOOKS)
def capture_changes(
    dataset: str,
    slot: str,
    table: str | None = None,
    dsn: str | None = None,
    follow_seconds: float | None = 0.0,
    create_slot: bool = True,
    batch_changes: int = 10_000,
    idle_sleep_seconds: float = 1.0,
    secret_block: str | None = None,
) -> RunReport:
    """Capture the changes of ``table`` (``schema.table``; ``public.<dataset>`` by default) into ``dataset``.

    ``dsn`` is a PostgreSQL URL, with TLS and SSH bastion parameters, or a
    connection name (``SLUICE_CDC_DSN`` when omitted); ``secret_block`` a
    Prefect Secret holding the connection, as ``ingest-table`` takes it. Changes land in
    ``<dataset>_changes`` (append contracts) or are applied to ``<dataset>``
    (upsert, scd2); the slot advances only past what the lake holds.
    """
    settings = get_settings()
    run_id = str(flow_run.get_id() or f"local-{int(time.time())}")
    schema, _, name = (table or f"public.{dataset}").rpartition(".")
    report = RunReport(
        run_id,
        dataset,
        f"{source_name(slot)}:{schema or 'public'}.{name}",
        settings.env,
        datetime.now(timezone.utc),
        flow="capture-changes",
    )
    report.source_kind, report.read_measure = "cdc", READ_MEASURES["cdc"]
    ledger = CaptureLedger()
    landing: Landing | None = None
    with contextlib.ExitStack() as tunnel:  # the SSH forward to a database behind a bastion, open for the run
        try:
            contract = find_contract(ensure_dataset_name(dataset), settings.contracts_root())
            ensure_verifiable(contract, "capture-changes")  # refused before the slot is touched
            ensure_no_hold(contract, "capture-changes")
            landing = Landing.of(contract, settings)
            source = _dsn(dsn, secret_block, settings, tunnel)
            if prepare_slot(source, slot, create_slot):
                get_run_logger().info("created replication slot %s", slot)
            req = CaptureRequest(
                source, slot, schema or "public", name, batch_changes, follow_seconds, idle_sleep_seconds
            )
            outcome = capture_into_lake(req, contract, ledger, run_id)
        except Exception as exc:
            fill_report(report, slot, ledger.batches, ledger.orphans)  # what was committed before the failure
            if landing is not None:
                landing.measure(report, ledger.batches)
                emit_committed(report, committed_versions(ledger.batches), landing.table)  # those changes landed
            record_failure(report, exc, settings.metadata_db_url())
            raise
        _finish(report, slot, outcome, settings, landing, contract)
        lag = read_slot_lag(source, slot, return_state=True)  # the capture is recorded: a lag not read is no failure
    if lag.is_completed():
        get_run_logger().info("slot %s lags %s byte(s)", slot, lag.result().lag_bytes)
    return report


def _finish(
    report: RunReport, slot: str, outcome: CaptureOutcome, settings: Settings, landing: Landing, contract: Contract
) -> None:
    """Fill, check and record a capture that ended well; tell Prefect of the versions it committed; release
    the held rows of datasets referencing one whose own table the changes were applied to."""
    fill_report(report, slot, outcome.batches, outcome.orphans)
    landing.measure(report, outcome.batches)
    report.stage_seconds["capture"] = outcome.seconds
    report.finished_at, report.status = datetime.now(timezone.utc), "completed"
    try:
        ensure_conserved(report)
    except Exception as exc:
        record_failure(report, exc, settings.metadata_db_url())
        raise
    emit_committed(report, committed_versions(outcome.batches), landing.table)
    record_run(report, settings.metadata_db_url())
    publish_artifacts(report, RunArtifacts.current(settings.env))
    if landing.table == contract.name:  # changes applied to the dataset's own table: its children's parent landed
        release_after_stream(settings, report, contract)
    get_run_logger().info(
        "captured %d change(s) in %d transaction(s) (%d already in the lake), wrote %d, duplicate %d",
        report.rows_read,
        sum(b.transactions for b in outcome.batches),
        sum(b.skipped for b in outcome.batches),
        report.rows_written,
        report.rows_duplicate,
    )
