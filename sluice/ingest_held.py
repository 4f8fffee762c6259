"""Releasing held rows after a run: which datasets to look at, and the run record of each release.

A file run of dataset D releases, after its own commit:

- D's held rows (a child's later run re-checks its rows and expires those past their timeout);
- the held rows of every dataset whose contract holds orphans of a reference to D (the parent landed).

A maintenance step (``lake-maintenance``, or ``ops quarantine held DATASET --expire``) releases
a dataset's held rows without any run of it or of its parents: :func:`release_dataset`, so rows
whose parent never comes are quarantined once their timeout has passed, whatever runs.

Each release is recorded as its own run of source ``held:DATASET`` (flow ``release-held``): it reads
the rows it took from the hold, and writes or quarantines them (:mod:`sluice.lake.held`).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path

from sluice.errors import ContractError
from sluice.ingest import finish_report
from sluice.lake import staging
from sluice.lake.commit import CommitTarget
from sluice.lake.held import Released, held_source, held_uri, parent_keys, release_held
from sluice.lake.lease import hold_lease, holder_name
from sluice.lake.table import table_uri
from sluice.runs.metastore import engine_for
from sluice.runs.records import FileOutcome, FileStatus, RunReport
from sluice.settings import Settings
from sluice.validate.contracts import Contract, available_contracts, find_contract
from sluice.validate.references import ReferencePolicy, holds

RELEASE_FLOW = "release-held"


def to_release(contract: Contract, contracts_root: Path) -> list[Contract]:
    """The contracts whose held rows a commit of ``contract``'s dataset may release, the dataset's own first."""
    found = [contract] if holds(contract) else []
    for name in available_contracts(contracts_root):
        if name == contract.name:
            continue
        try:
            other = find_contract(name, contracts_root)
        except ContractError:
            continue  # a broken contract elsewhere is its own runs' failure, not this one's
        if any(r.policy is ReferencePolicy.HOLD and r.dataset == contract.name for r in other.references):
            found.append(other)
    return found


def release_run_id(run_id: str, dataset: str) -> str:
    """The run id of the release of ``dataset`` a run made (one per run and dataset)."""
    return "held-" + hashlib.sha256(f"{run_id}\n{dataset}".encode()).hexdigest()[:32]


def release_report(base: RunReport, dataset: str, released: Released, started_at: datetime) -> RunReport:
    """The run record of a release: one file outcome per release batch, counts from its commit."""
    report = RunReport(
        run_id=release_run_id(base.run_id, dataset),
        dataset=dataset,
        source=held_source(dataset),
        env=base.env,
        started_at=started_at,
        flow=RELEASE_FLOW,
        source_kind="held",
    )
    committed = set(released.outcome.committed)
    outcomes = [
        FileOutcome(
            uri=f"{held_source(dataset)}#{b.release_id}",
            order=i,
            status=FileStatus.COMMITTED if b.batch.id in committed else FileStatus.SKIPPED,
            batch_id=b.batch.id,
            rows_read=b.rows_released + b.rows_expired if b.batch.id in committed else 0,
            rows_valid=b.rows_released if b.batch.id in committed else 0,
            rows_quarantined=b.rows_expired if b.batch.id in committed else 0,
        )
        for i, b in enumerate(released.batches)
    ]
    finish_report(report, outcomes, released.outcome.lake)
    report.finished_at, report.status = datetime.now(timezone.utc), "completed"
    return report


def release_dataset(
    settings: Settings,
    base: RunReport,
    contract: Contract,
    staging_dir: staging.StagePath,
    *,
    now: datetime | None = None,
) -> RunReport | None:
    """Release or expire ``contract``'s held rows under its dataset's lease; the release's run record.

    ``base`` is the run that releases (an ingestion of the dataset or of a parent, or a maintenance run):
    its id names the release run. ``None``: no held row was decided. Exactly once whoever calls it, and
    however often (:func:`sluice.lake.held.release_held`); the caller checks the returned run's
    conservation (:func:`sluice.runs.records.ensure_conserved`) and records it.
    """
    root, opts = settings.lake_root(), dict(settings.lake_storage_options)
    started = datetime.now(timezone.utc)
    target = CommitTarget(
        dataset=contract.name,
        contract=contract,
        run_id=release_run_id(base.run_id, contract.name),
        staging_dir=staging_dir,
        lake_uri=table_uri(root, contract.name),
        quarantine_uri=settings.quarantine_root(),
        storage_options=opts,
    )
    parents = parent_keys(contract, partial(table_uri, root), opts)
    engine = engine_for(settings.metadata_db_url())
    holder = holder_name(target.run_id)
    ttl, wait = settings.lease_ttl_seconds, settings.lease_wait_seconds
    stale = timedelta(hours=settings.staging_stale_hours)
    with hold_lease(engine, contract.name, holder, ttl_s=ttl, wait_s=wait) as lease:
        released = release_held(target, held_uri(root, contract.name), parents, now=now, lease=lease, stale_after=stale)
    if released is None:
        return None
    return release_report(base, contract.name, released, started)
