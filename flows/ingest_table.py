"""Flow ``ingest-table``: a PostgreSQL or MariaDB table (or query) into the dataset's Delta table.

``mode="snapshot"`` reads the whole table inside one snapshot, its primary-key
ranges in parallel on Dask; ``mode="incremental"`` reads the rows after the
position the lake records (by the ``cursor`` column, with a look-back).
"""

from __future__ import annotations

import contextlib
import time
from datetime import datetime, timezone

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows.held_release import release_after
from flows.hooks import INCIDENT_HOOKS
from flows.observe import observed
from flows.runners import dask_task_runner
from sluice.errors import ConfigError
from sluice.governance.protect import protector_for
from sluice.ingest import finish_report, hold_back_incomplete
from sluice.lake import staging, staging_runs
from sluice.lake.commit import CommitOutcome, CommitTarget
from sluice.lake.commit_size import commit_bytes
from sluice.lake.held import held_uri, store_held
from sluice.lake.lease import hold_lease, holder_name
from sluice.lake.table import table_uri
from sluice.paths import ensure_dataset_name, is_dataset_name, shown
from sluice.runs.completeness import ensure_complete
from sluice.runs.metastore import engine_for
from sluice.runs.records import FileOutcome, FileStatus, RunReport, ensure_conserved
from sluice.runs.usage import add_usage, read_measure, source_kind
from sluice.settings import Settings, get_settings
from sluice.sources.database import DatabaseUrl, resolve_connection
from sluice.sources.database_read import TableSpec
from sluice.sources.database_stage import TableRequest, commit_table, held_snapshot, last_position
from sluice.sources.database_tunnel import TunnelOptions, tunneled
from sluice.validate.contracts import find_contract
from sluice.validate.references import holds
from tasks.artifacts import RunArtifacts
from tasks.database import describe_source, secret_connection, stage_increment, stage_key_range
from tasks.events import emit_committed
from tasks.profile import profile_run
from tasks.records import publish_artifacts, record_failure, record_run
from tasks.verify import verify_commit

MODES = ("snapshot", "incremental")


def _url(connection: str, secret_block: str | None, settings: Settings, tunnel: contextlib.ExitStack) -> DatabaseUrl:
    """The run's connection; one behind an SSH bastion is reached through a forward ``tunnel`` holds open."""
    db = settings.databases
    if secret_block:
        url = secret_connection(secret_block)
    else:
        url = resolve_connection(connection, {k: v.get_secret_value() for k, v in db.databases.items()})
    return tunnel.enter_context(tunneled(url, TunnelOptions(db.db_ssh_known_hosts, db.db_ssh_timeout_seconds)))


def _stage(req: TableRequest, mode: str, lookback: float, parts: int) -> list[FileOutcome]:
    if mode == "incremental":
        previous = last_position(req.lake_uri, req.spec.source, req.lake_storage_options)
        out = stage_increment(req, previous, lookback, dataset=req.dataset)
        return [out] if out is not None else []
    with held_snapshot(req, parts) as snap:
        futures = [stage_key_range.submit(req, snap, rng, i, dataset=req.dataset) for i, rng in enumerate(snap.ranges)]
        return [f.result() for f in futures]


def _commit(req: TableRequest, settings: Settings, outcomes: list[FileOutcome]) -> CommitOutcome:
    target = CommitTarget(
        dataset=req.dataset,
        contract=req.spec.contract,
        run_id=req.run_id,
        staging_dir=req.run_place(),
        lake_uri=req.lake_uri,
        quarantine_uri=settings.quarantine_root(),
        storage_options=dict(req.lake_storage_options),
    )
    lease = (
        hold_lease(
            engine_for(settings.metadata_db_url()),
            req.dataset,
            holder_name(req.run_id),
            ttl_s=settings.lease_ttl_seconds,
            wait_s=settings.lease_wait_seconds,
        )
        if any(o.status is FileStatus.COMMITTED for o in outcomes)
        else contextlib.nullcontext()
    )
    with lease as held:
        if holds(req.spec.contract):  # held rows are stored before their batches commit (sluice.lake.held)
            staged = [o.batch_id for o in outcomes if o.status is FileStatus.COMMITTED]
            uri = held_uri(settings.lake_root(), req.dataset)
            store_held(uri, req.run_place(), staged, req.lake_storage_options, contract=req.spec.contract)
        meta: dict[str, object] = {"run_id": req.run_id, "dataset": req.dataset, "env": settings.env}
        return commit_table(target, req.spec.source, outcomes, lease=held, metadata=meta)


def _request(spec: TableSpec, dataset: str, run_id: str, started: datetime, settings: Settings) -> TableRequest:
    """The run's staging folder (opened here) and everything its workers need.

    The source's columns are read first: a type without a mapping fails the run before it stages anything.
    """
    columns = describe_source(spec)
    staging_root = staging.location(settings.staging_location(), settings.lake_storage_options)
    run_dir, _ = staging_runs.open_run(staging_root, run_id, stale_hours=settings.staging_stale_hours)
    return TableRequest(
        spec=spec,
        columns=columns,
        dataset=dataset,
        run_id=run_id,
        run_dir=str(run_dir),
        lake_uri=table_uri(settings.lake_root(), dataset),
        ingest_date=started.date(),
        chunk_rows=settings.rows_per_chunk(),
        lake_storage_options=dict(settings.lake_storage_options),
        protector=protector_for(spec.contract, settings),
        staging_options=staging.options_of(run_dir),
        reference_uris={r.dataset: table_uri(settings.lake_root(), r.dataset) for r in spec.contract.references},
    )


def _finish(report: RunReport, req: TableRequest, outcomes: list[FileOutcome], settings: Settings) -> None:
    """Commit the staged batches, check the counts and the contract's verify block, record the run.

    Raises:
        CommitVerificationError: the commit failed a check of the verify block and was rolled back.
    """
    held_back = hold_back_incomplete(outcomes)  # key ranges or cursor intervals whose count(*) disagrees, under strict
    commit_cpu = time.thread_time()
    committed = _commit(req, settings, outcomes)
    finish_report(report, outcomes, committed.lake)
    add_usage(report, time.thread_time() - commit_cpu)
    report.bytes_written = commit_bytes(req.lake_uri, report.lake_version, req.run_id, req.lake_storage_options)
    report.finished_at, report.status = datetime.now(timezone.utc), "failed" if held_back else "completed"
    if held_back:
        report.error = "; ".join(f"{f.uri}: {f.error}" for f in held_back)
    try:
        ensure_conserved(report)
    except Exception as exc:
        report.status, report.error = "failed", str(exc)
        record_run(report, settings.metadata_db_url())
        raise
    # A commit that fails a check of the contract's verify block is rolled back; the run fails with the reason.
    review = verify_commit(report, req.spec.contract, req.lake_uri) if committed.committed else None
    if review is not None and review.failed:
        review.apply(report)
    elif committed.committed:
        emit_committed(report)
        profile_run(report, req.lake_uri, dict(req.lake_storage_options))
    record_run(report, settings.metadata_db_url())
    publish_artifacts(report, RunArtifacts.current(settings.env))
    rolled_back = review is not None and review.failed
    releases = [] if rolled_back else release_after(settings, report, req.spec.contract, req.run_place())
    staging.remove_run(req.run_place())
    get_run_logger().info(
        "read %d, wrote %d, quarantined %d, held %d, duplicate %d; %d release(s) of held rows",
        report.rows_read,
        report.rows_written,
        report.rows_quarantined,
        report.rows_held,
        report.rows_duplicate,
        len(releases),
    )
    if review is not None and review.failed:
        raise review.error(report.dataset, report.lake_version)
    if held_back:
        ensure_complete(report.dataset, report.control_totals)


# prefect-dask subclasses a bare TaskRunner, which its type default makes a TaskRunner of thread futures.
@flow(name="ingest-table", task_runner=dask_task_runner(), log_prints=False, **INCIDENT_HOOKS)  # type: ignore[arg-type]
@observed("ingest-table", "dataset")
def ingest_table(
    dataset: str,
    connection: str = "",
    table: str | None = None,
    query: str | None = None,
    mode: str = "snapshot",
    cursor: str | None = None,
    lookback_seconds: float | None = None,
    secret_block: str | None = None,
) -> RunReport:
    """Ingest a database table (or query) into ``dataset``, validated by its contract.

    ``connection`` is a URL or a name of ``SLUICE_DATABASES``; ``secret_block``
    names a Prefect Secret holding the URL instead. Fails, before reading a
    row, on a type without a mapping; fails if the run's counts do not add up.
    """
    settings = get_settings()
    run_id = str(flow_run.get_id() or f"local-{int(time.time())}")
    started = datetime.now(timezone.utc)
    shown_name = dataset if is_dataset_name(dataset) else shown(dataset)
    report = RunReport(run_id, shown_name, "", settings.env, started, flow="ingest-table")
    clock = time.perf_counter()
    db = settings.databases
    tunnel = contextlib.ExitStack()  # the SSH forward to a database behind a bastion, open until staging ends
    try:
        if mode not in MODES:
            raise ConfigError(f"mode {mode!r} is not one of {', '.join(MODES)}", hint="--mode snapshot or incremental")
        contract = find_contract(ensure_dataset_name(dataset), settings.contracts_root())
        url = _url(connection, secret_block, settings, tunnel)
        spec = TableSpec(url, contract, table=table, query=query, cursor=cursor, fetch_rows=db.db_fetch_rows)
        report.source = spec.source
        report.source_kind = source_kind(spec.source)
        report.read_measure = read_measure(report.source_kind)
        req = _request(spec, dataset, run_id, started, settings)
    except Exception as exc:
        tunnel.close()
        record_failure(report, exc, settings.metadata_db_url())
        raise
    lookback = db.db_lookback_seconds if lookback_seconds is None else lookback_seconds
    try:
        outcomes = _stage(req, mode, lookback, db.db_snapshot_parts or 2 * max(settings.dask_workers, 1))
    except Exception as exc:
        record_failure(report, exc, settings.metadata_db_url())
        raise
    finally:
        tunnel.close()
    report.stage_seconds["read_validate_stage"] = time.perf_counter() - clock
    _finish(report, req, outcomes, settings)
    return report
