"""Releasing held rows after a run: which datasets to look at, and the run record of each release.

A file run of dataset D releases, after its own commit:

- D's held rows (a child's later run re-checks its rows and expires those past their timeout);
- the held rows of every dataset whose contract holds orphans of a reference to D (the parent landed).

Each release is recorded as its own run of source ``held:DATASET`` (flow ``release-held``): it reads
the rows it took from the hold, and writes or quarantines them (:mod:`sluice.lake.held`).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path

from sluice.errors import ContractError
from sluice.ingest import finish_report
from sluice.lake.held import Released, held_source
from sluice.runs.records import FileOutcome, FileStatus, RunReport
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
