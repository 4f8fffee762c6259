"""The commit protocol: staged batches into a dataset's lake table, each exactly once, under its lease.

A batch is a source and a position range in it, committed atomically with
its rows: for files, the file URI and its sha256; for the database, CDC and
stream sources, a cursor range, an LSN range or Kafka offsets. Every source
stages its batches the same way (:mod:`sluice.lake.staging`) and commits them with
:func:`commit_batches`:

1. **plan** at the table's current version V: drop the batches V already
   records (another run committed them: they are reported as skipped), and
   note the dates V holds;
2. **deduplicate** the remaining batches' rows within the run (new dates are
   written straight into the table folder, invisible);
3. **commit** the quarantine, then the lake as version V+1 only: one Delta
   transaction with every file, the rows of existing dates that V lacks, and
   every batch id as an application transaction. If another writer took
   V+1, nothing of this attempt is visible and the run goes back to 1.

Keyed tables (contract ``mode: upsert`` or ``scd2``) skip step 2: step 3
resolves the run's rows against the table's versions of their keys and
rewrites the files holding changed keys (:mod:`sluice.lake.apply`), in the
same single commit at V+1 with the batch ids.

Steps 1-3 run while the caller holds the dataset's lease
(:mod:`sluice.lake.lease`), so concurrent runs take turns and re-planning is the
exception; the commit at exactly V+1 keeps the lake exact even without it.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pyarrow as pa
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError

from sluice.errors import LakeConflictError
from sluice.governance.pii import run_warnings, scan_added_columns
from sluice.lake import staging
from sluice.lake.apply import apply_batches
from sluice.lake.manifest import provenance
from sluice.lake.manifest_write import manifest_writer
from sluice.lake.table import (
    CommitResult,
    DedupedBucket,
    dedup_bucket,
    lake_schema,
    open_table,
)
from sluice.lake.write import commit_deduped, commit_quarantine, discard, evolve_schema
from sluice.sources.files import batch_id
from sluice.validate.chunk import PARTITION
from sluice.validate.contracts import Contract

log = logging.getLogger(__name__)

ATTEMPTS = 3


@dataclass(frozen=True)
class Batch:
    """A source and a position range in it, committed once, atomically with its rows.

    ``rows_read`` and ``rows_quarantined`` are what staging counted; they go
    into the commit metadata.
    """

    source: str
    position: str
    rows_read: int = 0
    rows_quarantined: int = 0

    @property
    def id(self) -> str:
        return batch_id(self.source, self.position)

    def describe(self) -> dict[str, str]:
        """How the commit metadata names this batch."""
        return {"source": self.source, "position": self.position, "batch_id": self.id}


@dataclass(frozen=True)
class FileBatch(Batch):
    """A whole file: its URI and the sha256 of its bytes."""

    def describe(self) -> dict[str, str]:
        return {"uri": self.source, "sha256": self.position, "batch_id": self.id}


@dataclass(frozen=True)
class CommitTarget:
    """Where a run's staged batches go, and where they are staged."""

    dataset: str
    contract: Contract
    run_id: str
    staging_dir: staging.StagePath
    lake_uri: str
    quarantine_uri: str
    storage_options: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of_run(
        cls,
        contract: Contract,
        run_id: str,
        staging_root: Path,
        lake_uri: str,
        quarantine_uri: str,
        storage_options: dict[str, str],
    ) -> CommitTarget:
        """The target of run ``run_id`` writing ``contract``'s dataset, staging under ``staging_root / run_id``."""
        return cls(contract.name, contract, run_id, staging_root / run_id, lake_uri, quarantine_uri, storage_options)


@dataclass(frozen=True)
class CommitPlan:
    """What one attempt commits, as read at table version ``version`` (``None``: no table yet)."""

    version: int | None
    batch_ids: list[str]
    skipped: list[str]  # batches version already records
    quarantine_files: dict[str, list[staging.StagePath]]
    buckets: dict[str, list[staging.StagePath]]
    old_days: set[str]
    work_dir: staging.StagePath
    attempt: int = 1


@dataclass
class _Tally:
    dedup_s: float = 0.0
    commit_s: float = 0.0
    quarantined: int = 0


@dataclass(frozen=True)
class CommitOutcome:
    """What a run committed: the lake result, quarantine rows added, and whose batches were whose."""

    lake: CommitResult
    quarantined: int
    committed: list[str]
    skipped: list[str]
    attempts: int
    seconds: dict[str, float]


class Fence(Protocol):
    """A held lease (:class:`sluice.lake.lease.HeldLease`): its token, and a check that it is still held."""

    @property
    def token(self) -> int: ...

    def ensure_held(self) -> None: ...


Dedup = Callable[[CommitPlan], list[DedupedBucket]]


def plan_commit(target: CommitTarget, batches: list[Batch], attempt: int = 1) -> CommitPlan:
    """Plan at the table's current version: the batches it does not record yet, and the dates it has."""
    table = open_table(target.lake_uri, target.storage_options)
    wanted = {b.id for b in batches}
    done = {b for b in wanted if table is not None and table.transaction_version(b) is not None}
    staged = [s for s in staging.completed_batches(target.staging_dir) if s.batch_id in wanted - done]
    q_files = {s.batch_id: staging.quarantine_files([s]) for s in staged}
    return CommitPlan(
        version=table.version() if table is not None else None,
        batch_ids=[s.batch_id for s in staged],
        skipped=sorted(done),
        quarantine_files={k: v for k, v in q_files.items() if v},
        buckets=staging.bucket_files(staged),
        old_days={p[PARTITION] for p in table.partitions()} if table is not None else set(),
        work_dir=target.staging_dir / "_deduped" / f"attempt-{attempt}",
        attempt=attempt,
    )


def dedup_buckets(target: CommitTarget, plan: CommitPlan, names: list[str]) -> list[DedupedBucket]:
    """Deduplicate some buckets of a plan (a worker's share of the commit)."""
    schema = lake_schema(target.contract)
    return [
        dedup_bucket(
            n,
            plan.buckets[n],
            keys=target.contract.primary_key,
            schema=schema,
            old_days=plan.old_days,
            out_dir=plan.work_dir,
            table=target.lake_uri,
            storage_options=target.storage_options,
        )
        for n in names
    ]


def _metadata(
    base: dict[str, object], batches: list[Batch], plan: CommitPlan, lease: Fence | None
) -> dict[str, object]:
    mine = [b for b in batches if b.id in set(plan.batch_ids)]
    return {
        **base,
        "sources": [b.describe() for b in mine],
        "counts": {
            "rows_read": sum(b.rows_read for b in mine),
            "rows_quarantined": sum(b.rows_quarantined for b in mine),
        },
        "read_version": plan.version,
        "attempt": plan.attempt,
        "lease_token": lease.token if lease is not None else None,
    }


def _staged_rows(plan: CommitPlan) -> Iterator[pa.Table]:
    """Every valid row a plan's batches staged, one staged file at a time (keyed tables resolve a run's rows
    together, a group of keys at a time)."""
    return (staging.read(p) for paths in plan.buckets.values() for p in paths)


def _apply(
    target: CommitTarget, batches: list[Batch], plan: CommitPlan, lease: Fence | None, metadata: dict[str, object]
) -> CommitResult:
    """A keyed table's commit (:func:`sluice.lake.apply.apply_batches`): upsert or scd2, at ``plan.version + 1``."""
    return apply_batches(
        target.lake_uri,
        target.contract,
        _staged_rows(plan),
        batch_ids=plan.batch_ids,
        version=plan.version,
        metadata=_metadata(metadata, batches, plan, lease),
        storage_options=target.storage_options,
        work_dir=_work_dir(plan),
    ).as_commit_result()


def _work_dir(plan: CommitPlan) -> Path | None:
    """A local folder for rows a keyed commit holds back; on an object store, the system's temporary folder."""
    if not isinstance(plan.work_dir, Path):
        return None
    plan.work_dir.mkdir(parents=True, exist_ok=True)
    return plan.work_dir


def _attempt(
    target: CommitTarget,
    batches: list[Batch],
    plan: CommitPlan,
    dedup: Dedup,
    lease: Fence | None,
    metadata: dict[str, object],
    tally: _Tally,
    table: DeltaTable | None = None,
) -> CommitResult:
    clock = time.perf_counter()
    deduped = [] if target.contract.keyed else dedup(plan)
    tally.dedup_s += time.perf_counter() - clock
    clock = time.perf_counter()
    try:
        if lease is not None:
            lease.ensure_held()
        tally.quarantined += commit_quarantine(
            target.quarantine_uri,
            plan.quarantine_files,
            dataset=target.dataset,
            metadata={"run_id": target.run_id},
            storage_options=target.storage_options,
        )
        if target.contract.keyed:
            return _apply(target, batches, plan, lease, metadata)
        return commit_deduped(
            target.lake_uri,
            target.contract,
            deduped,
            batch_ids=plan.batch_ids,
            metadata=_metadata(metadata, batches, plan, lease),
            version=plan.version,
            storage_options=target.storage_options,
            table=table,
        )
    except LakeConflictError:
        # The lake commit did not happen: this attempt's new files are never referenced.
        discard(target.lake_uri, [f.path for b in deduped for f in b.new_files], target.storage_options)
        raise
    finally:
        tally.commit_s += time.perf_counter() - clock


def _outcome(
    result: CommitResult, tally: _Tally, committed: list[str], plan: CommitPlan, attempt: int
) -> CommitOutcome:
    return CommitOutcome(
        result, tally.quarantined, committed, plan.skipped, attempt, {"dedup": tally.dedup_s, "commit": tally.commit_s}
    )


def _scan_added(target: CommitTarget, added: list[str]) -> dict[str, int]:
    """The PII scan of the columns a commit added; a scan that fails is logged, never fails the committed run."""
    try:
        scans = scan_added_columns(target.contract, target.lake_uri, added, storage_options=target.storage_options)
    except (OSError, pa.ArrowException, DeltaError) as exc:
        log.warning("%s: the PII scan of new column(s) %s failed: %s", target.dataset, ", ".join(added), exc)
        return {}
    found = run_warnings(scans)
    for key in found:
        column, _, what = key.partition(":")
        log.warning(
            "%s: new column %s: %s; tag it in the contract (pii: CLASS) or check with `ops pii scan %s`",
            target.dataset,
            column,
            what,
            target.dataset,
        )
    return found


Planner = Callable[[int], tuple[CommitPlan, "DeltaTable | None"]]


def commit_batches(
    target: CommitTarget,
    batches: list[Batch],
    *,
    metadata: dict[str, object],
    lease: Fence | None = None,
    dedup: Dedup | None = None,
    attempts: int = ATTEMPTS,
) -> CommitOutcome:
    """Commit the staged ``batches`` to the lake and the quarantine, each batch exactly once.

    ``dedup`` runs a plan's deduplication (by default here, one bucket after
    another; the flow spreads it over Dask workers). ``lease`` is checked
    before each commit and its token recorded in the commit metadata. A run
    whose batches were all committed by others writes no version. Each
    version written gets its signed manifest (:mod:`sluice.lake.manifest_write`).

    Raises:
        LakeConflictError: other writers committed first on every attempt.
        LeaseLostError: the lease lapsed before the commit; nothing was committed.
    """
    run_dedup = dedup or (lambda plan: dedup_buckets(target, plan, list(plan.buckets)))
    return commit_planned(
        target,
        batches,
        lambda attempt: (plan_commit(target, batches, attempt), None),
        metadata=metadata,
        lease=lease,
        dedup=run_dedup,
        evolve=lambda: evolve_schema(target.lake_uri, lake_schema(target.contract), target.storage_options),
        attempts=attempts,
    )


def commit_planned(
    target: CommitTarget,
    batches: list[Batch],
    planner: Planner,
    *,
    metadata: dict[str, object],
    lease: Fence | None,
    dedup: Dedup,
    evolve: Callable[[], list[str]],
    attempts: int = ATTEMPTS,
) -> CommitOutcome:
    """The protocol's attempts (see :func:`commit_batches`), each planned by ``planner``.

    ``planner(attempt)`` gives the plan and, when the caller keeps the table open, the table at the
    plan's version (``None``: the commit opens it). ``evolve`` adds the contract's new columns to the
    table (:func:`sluice.lake.write.evolve_schema`) and names them.
    """
    manifests = manifest_writer()  # a signing key that cannot be loaded fails the run before it commits
    metadata = {"dataset": target.dataset, **metadata, **provenance(target.contract)}
    if added := evolve():
        log.info("%s: added column(s) %s to the lake table", target.dataset, ", ".join(added))
    tally = _Tally()
    for attempt in range(1, attempts + 1):
        plan, table = planner(attempt)
        if not plan.batch_ids:
            result = CommitResult(0, 0, 0, plan.version, 0)
            return _outcome(result, tally, [], plan, attempt)
        try:
            result = _attempt(target, batches, plan, dedup, lease, metadata, tally, table)
        except LakeConflictError as exc:
            log.warning("%s: attempt %d of %d lost to a concurrent commit (%s)", target.dataset, attempt, attempts, exc)
            continue
        manifests.record(target.dataset, target.lake_uri, result.version, target.storage_options)
        if added:
            result = dataclasses.replace(result, pii_warnings=_scan_added(target, added))
        return _outcome(result, tally, plan.batch_ids, plan, attempt)
    raise LakeConflictError(
        f"{target.dataset}: other writers committed first on all {attempts} attempts",
        hint="nothing of this run is visible; check that every writer of the table holds "
        "the dataset's lease (one metadata store for all hosts), then rerun",
    )
