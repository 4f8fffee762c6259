"""Quarantine replay, release and discard: the services behind ``ops quarantine replay|release|discard``.

Each holds the dataset's commit lease from reading the undecided entries to
recording their decisions, so replays, releases, discards and ingestions of
one dataset take turns. A replay or release is a run: it commits through the
ordinary protocol (:mod:`sluice.lake.replay`) and records a run record whose
counts add up (:func:`sluice.runs.records.ensure_conserved`): it reads the
rows it moves out of the quarantine, and they are written (or duplicate), so
a row counts once as quarantined (by the run that read it first) and once as
written (by the replay); the rows a replay leaves in the quarantine are its
warnings (``replay:still_failing``, ``replay:unsplit``), not counted again. A
dataset's rows still in the quarantine are its runs' quarantined rows less
its replays' and releases' rows read. Each landed, released or discarded row gets
its decision in the ledger (:mod:`sluice.lake.quarantine_ledger`) and is
never replayed again. A release or discard first appends its steward's
decision to the access audit (:mod:`sluice.access.audit`).
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from sluice.access.audit import AccessAction, AccessRecord, record_access
from sluice.errors import ConfigError, LakeConflictError
from sluice.governance.audit import OS_ISSUER, current_principal
from sluice.lake import staging, staging_runs
from sluice.lake.commit import CommitOutcome, CommitTarget
from sluice.lake.lease import HeldLease, hold_lease, holder_name
from sluice.lake.quarantine import QuarantineEntry, QuarantineQuery, list_entries, open_quarantine
from sluice.lake.quarantine_ledger import Decision, RowDecision, UnknownRowError, decided, ledger, record, split_row_id
from sluice.lake.replay import (
    REPLAY_SOURCE,
    Revalidated,
    commit_at,
    landed,
    release_rows,
    replay_batch,
    revalidate,
    stage,
)
from sluice.lake.table import lake_schema, open_table, table_uri
from sluice.lake.write import evolve_schema
from sluice.paths import ensure_dataset_name
from sluice.runs.metastore import engine_for, save_run
from sluice.runs.records import FileOutcome, FileStatus, RunReport, ensure_conserved
from sluice.settings import Settings, get_settings
from sluice.validate.contracts import Contract, find_contract

ATTEMPTS = 3


@dataclass(frozen=True)
class ReplayRequest:
    """Which quarantined rows of ``dataset`` to replay; ``None`` filters do not filter."""

    dataset: str
    reason: str | None = None
    run_id: str | None = None
    since: date | None = None
    dry_run: bool = False


@dataclass
class ReplayReport:
    """What a replay or release did (or, dry, would do) with each row, by row id."""

    run_id: str
    dataset: str
    action: str  # replay or release
    dry_run: bool = False
    considered: int = 0  # undecided entries that matched
    already_landed: list[str] = field(default_factory=list)  # in the lake already: recorded, not committed again
    landing: list[str] = field(default_factory=list)  # pass now: committed (or, dry, would be)
    still_failing: dict[str, str] = field(default_factory=dict)  # row id -> its failures now
    unsplit: list[str] = field(default_factory=list)  # never split into fields; release or discard them
    rows_written: int = 0
    rows_duplicate: int = 0
    rows_updated: int = 0
    rows_unchanged: int = 0
    lake_version: int | None = None


def _settings(settings: Settings | None) -> Settings:
    return settings or get_settings()


_REDELIVER = (
    "have the source deliver the rows again once the contract accepts them, then mark the old entries with "
    "`ops quarantine discard ROW_ID ... --note`"
)


def _contract(dataset: str, settings: Settings) -> Contract:
    """The dataset's contract; ConfigError if it protects columns or explodes arrays (no replay then)."""
    contract = find_contract(ensure_dataset_name(dataset), settings.contracts_root())
    if contract.protected_columns:
        raise ConfigError(
            f"{dataset} protects columns ({', '.join(sorted(contract.protected_columns))}): their quarantined "
            "values are protected too (a token has no way back to its value, an encrypted one only through an "
            "audited reveal), so they cannot be validated or landed again",
            hint=_REDELIVER,
        )
    if contract.explode:
        raise ConfigError(
            f"{dataset} explodes arrays into child datasets ({', '.join(sorted(contract.explode))}): a replayed "
            "row would land without its children, which wait in the children's quarantine under their parent's "
            "batch and source row (shared by all the children of one row, so they cannot each land once)",
            hint=_REDELIVER,
        )
    return contract


@contextlib.contextmanager
def _lease(settings: Settings, dataset: str, run_id: str) -> Iterator[HeldLease]:
    engine = engine_for(settings.metadata_db_url())
    with hold_lease(
        engine,
        dataset,
        holder_name(run_id),
        ttl_s=settings.lease_ttl_seconds,
        wait_s=settings.lease_wait_seconds,
    ) as held:
        yield held


def _entries(settings: Settings, query: QuarantineQuery) -> list[QuarantineEntry]:
    table = open_quarantine(settings.quarantine_root(), dict(settings.lake_storage_options) or None)
    if table is None:
        return []
    unique = {e.row_id: e for e in list_entries(table, query, limit=None)}
    return [unique[k] for k in sorted(unique)]


def undecided(entries: list[QuarantineEntry], settings: Settings | None = None) -> list[QuarantineEntry]:
    """The entries no replay, release or discard has decided yet (still in the quarantine, in effect), in order."""
    settings = _settings(settings)
    done: set[tuple[str, str]] = set()
    with ledger(engine_for(settings.metadata_db_url())).connect() as conn:
        for dataset in sorted({e.dataset for e in entries}):
            mine = [e.row_id for e in entries if e.dataset == dataset]
            done |= {(dataset, i) for i in decided(conn, dataset, mine)}
    return [e for e in entries if (e.dataset, e.row_id) not in done]


def _target(settings: Settings, contract: Contract, run_id: str, run_dir: staging.StagePath) -> CommitTarget:
    return CommitTarget(
        dataset=contract.name,
        contract=contract,
        run_id=run_id,
        staging_dir=run_dir,
        lake_uri=table_uri(settings.lake_root(), contract.name),
        quarantine_uri=settings.quarantine_root(),
        storage_options=dict(settings.lake_storage_options),
    )


def _landed_now(target: CommitTarget, ids: list[str], *, evolve: bool) -> tuple[int | None, set[str]]:
    """The table version to commit after (the contract's new columns added first), and the ids it holds."""
    if evolve:
        evolve_schema(target.lake_uri, lake_schema(target.contract), target.storage_options)
    table = open_table(target.lake_uri, target.storage_options)
    version = table.version() if table is not None else None
    return version, landed(target.lake_uri, version, ids, target.storage_options)


def _fill(report: ReplayReport, outcome: CommitOutcome | None) -> None:
    if outcome is None:
        return
    lake = outcome.lake
    report.rows_written, report.rows_updated, report.rows_unchanged = (
        lake.rows_written,
        lake.rows_updated,
        lake.rows_unchanged,
    )
    report.rows_duplicate = lake.duplicates_in_run + lake.duplicates_in_lake
    report.lake_version = lake.version if outcome.committed else None


def _land(
    settings: Settings,
    report: ReplayReport,
    contract: Contract,
    entries: list[QuarantineEntry],
    judge: Callable[[list[QuarantineEntry]], Revalidated],
    held: HeldLease | None,
) -> None:
    """Check what the lake holds, judge the rest, commit those that pass; again if the table moved on."""
    run_root = staging.location(settings.staging_location(), settings.lake_storage_options)
    run_dir, _ = staging_runs.open_run(run_root, report.run_id, stale_hours=settings.staging_stale_hours)
    try:
        target = _target(settings, contract, report.run_id, run_dir)
        for _attempt in range(ATTEMPTS):
            version, found = _landed_now(target, [e.row_id for e in entries], evolve=not report.dry_run)
            todo = [e for e in entries if e.row_id not in found]
            result = judge(todo)
            report.already_landed = sorted(found)
            report.landing, report.unsplit = result.passed, result.unsplit
            report.still_failing = {i: result.reasons.get(i, "") for i in result.failing}
            if report.dry_run or not result.passed:
                return
            batch = replay_batch(contract.name, result.passed, rows=len(todo))
            stage(run_dir, batch, result.valid)
            metadata: dict[str, object] = {"run_id": report.run_id, "env": settings.env, "replay": report.action}
            try:
                _fill(report, commit_at(target, batch, version, held, metadata))
            except LakeConflictError:
                continue
            return
        raise LakeConflictError(
            f"{contract.name}: the table moved on during each of {ATTEMPTS} attempts to {report.action}",
            hint="check that every writer of the table holds the dataset's lease, then run it again",
        )
    finally:
        staging.remove_run(run_dir)


def _run_record(settings: Settings, report: ReplayReport, started: datetime) -> RunReport:
    """The run's record: it reads the rows it moves out of the quarantine; those that stay are warnings."""
    moved = len(report.landing)
    run = RunReport(
        run_id=report.run_id,
        dataset=report.dataset,
        source=REPLAY_SOURCE + report.dataset,
        env=settings.env,
        started_at=started,
        finished_at=datetime.now(timezone.utc),
        status="completed",
        rows_read=moved,
        rows_written=report.rows_written,
        rows_duplicate=report.rows_duplicate,
        rows_updated=report.rows_updated,
        rows_unchanged=report.rows_unchanged,
        lake_version=report.lake_version,
        flow=f"quarantine-{report.action}",
        source_kind="quarantine",
    )
    batch = replay_batch(report.dataset, report.landing).id
    run.files = [FileOutcome(run.source, 0, FileStatus.COMMITTED, batch_id=batch, rows_read=moved, rows_valid=moved)]
    left = {
        "replay:still_failing": len(report.still_failing),
        "replay:unsplit": len(report.unsplit),
        "replay:already_landed": len(report.already_landed),
    }
    run.warnings = {k: v for k, v in left.items() if v}
    ensure_conserved(run)
    return run


def _record(settings: Settings, report: ReplayReport, started: datetime, decision: Decision, note: str = "") -> None:
    """The run record (counts conserved) and the ledger rows, in one metadata-store transaction."""
    run = _run_record(settings, report, started)
    actor = current_principal()
    rows = [
        RowDecision(report.dataset, i, decision, report.run_id, report.lake_version, actor, note)
        for i in report.landing
    ]
    rows += [
        RowDecision(report.dataset, i, decision, "", None, actor, "found in the lake") for i in report.already_landed
    ]
    with ledger(engine_for(settings.metadata_db_url())).begin() as conn:
        save_run(conn, run)
        record(conn, rows)


def _new_run_id(action: str) -> str:
    return f"{action}-{uuid.uuid4().hex[:16]}"


def replay(request: ReplayRequest, settings: Settings | None = None) -> ReplayReport:
    """Re-validate the undecided quarantined rows ``request`` picks and commit those that pass, each once.

    Raises:
        ContractError: the dataset has no contract.
        ConfigError: the contract protects columns (their quarantined values cannot be validated) or
            explodes arrays into child datasets (their rows would land without their children).
        LeaseTimeoutError, LakeConflictError: another writer kept the dataset (transient).
    """
    settings = _settings(settings)
    contract = _contract(request.dataset, settings)
    report = ReplayReport(_new_run_id("replay"), request.dataset, "replay", dry_run=request.dry_run)
    started = datetime.now(timezone.utc)
    query = QuarantineQuery(dataset=request.dataset, run_id=request.run_id, reason=request.reason, since=request.since)

    def judge(todo: list[QuarantineEntry]) -> Revalidated:
        return revalidate(todo, contract, report.run_id, started.date())

    lease = contextlib.nullcontext() if request.dry_run else _lease(settings, request.dataset, report.run_id)
    with lease as held:
        entries = undecided(_entries(settings, query), settings)
        report.considered = len(entries)
        if entries:
            _land(settings, report, contract, entries, judge, held)
        if not request.dry_run:
            _record(settings, report, started, Decision.REPLAYED)
    return report


def _named(settings: Settings, dataset: str, ids: list[str]) -> list[QuarantineEntry]:
    """The undecided entries the row ids name, every one of them.

    Raises:
        UnknownRowError: an id is malformed, names no entry of the dataset, or names a row decided already.
    """
    wanted = sorted(set(ids))
    batches = tuple(sorted({split_row_id(i)[0] for i in wanted}))
    found = {e.row_id: e for e in _entries(settings, QuarantineQuery(dataset=dataset, batch_ids=batches))}
    missing = [i for i in wanted if i not in found]
    if missing:
        raise UnknownRowError(
            f"no quarantined row {missing[0]} in {dataset}"
            + (f" (and {len(missing) - 1} more)" if missing[1:] else ""),
            hint=f"find row ids with `ops quarantine list --dataset {dataset} -o json`",
        )
    with ledger(engine_for(settings.metadata_db_url())).connect() as conn:
        done = decided(conn, dataset, wanted)
    if done:
        first = sorted(done)[0]
        raise UnknownRowError(f"row {first} of {dataset} was {done[first].value} already", hint="leave it out")
    return [found[i] for i in wanted]


def dataset_of(ids: list[str], dataset: str | None, settings: Settings | None = None) -> str:
    """``dataset`` when given, else the one dataset whose quarantine holds the batches of ``ids``.

    Raises:
        UnknownRowError: no dataset, or several (a parent and its exploded children share batches), hold them.
    """
    if dataset is not None:
        return ensure_dataset_name(dataset)
    batches = tuple(sorted({split_row_id(i)[0] for i in ids}))
    found = sorted({e.dataset for e in _entries(_settings(settings), QuarantineQuery(batch_ids=batches))})
    if len(found) != 1:
        raise UnknownRowError(
            f"no quarantined row {sorted(ids)[0]}" if not found else f"the rows are in {', '.join(found)}",
            hint="name the dataset with --dataset; `ops quarantine list -o json` shows each row_id",
        )
    return found[0]


def _audit(settings: Settings, action: AccessAction, dataset: str, ids: list[str], note: str) -> None:
    if not note.strip():
        raise ConfigError("a steward's decision needs a --note saying why", hint="e.g. --note 'INC-42: refund rows'")
    record_access(
        AccessRecord(
            action,
            current_principal(),
            OS_ISSUER,
            dataset=dataset,
            rows=len(ids),
            reason=note,
            detail=json.dumps({"row_ids": sorted(ids)}),
        ),
        settings=settings,
    )


def release(dataset: str, ids: list[str], note: str, settings: Settings | None = None) -> ReplayReport:
    """Commit the rows ``ids`` name as they are, typed as the lake holds them and checked by no rule.

    Raises:
        UnknownRowError: an id is malformed, unknown or decided already (nothing is released).
        UnfitRowError: a row does not fit the lake's types (nothing is released).
    """
    settings = _settings(settings)
    contract = _contract(dataset, settings)
    report = ReplayReport(_new_run_id("release"), dataset, "release")
    started = datetime.now(timezone.utc)
    with _lease(settings, dataset, report.run_id) as held:
        entries = _named(settings, dataset, ids)
        release_rows(entries, contract)  # refuses unfit rows before the audit records the decision
        _audit(settings, AccessAction.QUARANTINE_RELEASE, dataset, [e.row_id for e in entries], note)
        report.considered = len(entries)
        _land(settings, report, contract, entries, lambda todo: release_rows(todo, contract), held)
        _record(settings, report, started, Decision.RELEASED, note)
    return report


def discard(dataset: str, ids: list[str], note: str, settings: Settings | None = None) -> int:
    """Mark the rows ``ids`` name as never to be replayed; returns how many.

    Raises:
        UnknownRowError: an id is malformed, unknown or decided already (nothing is discarded).
    """
    settings = _settings(settings)
    ensure_dataset_name(dataset)
    with _lease(settings, dataset, _new_run_id("discard")):
        entries = _named(settings, dataset, ids)
        _audit(settings, AccessAction.QUARANTINE_DISCARD, dataset, [e.row_id for e in entries], note)
        actor = current_principal()
        with ledger(engine_for(settings.metadata_db_url())).begin() as conn:
            return record(
                conn, [RowDecision(dataset, e.row_id, Decision.DISCARDED, actor=actor, note=note) for e in entries]
            )
