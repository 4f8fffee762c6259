"""One frame of validated rows, staged and committed as one batch: what position-based sources share.

Change capture and stream sources read a batch, validate it into valid rows
and quarantine entries, and commit both with the batch's position through
the commit protocol (:mod:`sluice.lake.commit`). :func:`commit_frame` stages
the two tables as a single batch under the run's staging folder, commits it,
and removes the staging folder whatever happens. :func:`dataset_lease` is the
lease those commits hold (none without a metadata store). A stream batch
of a table that is not keyed commits from memory instead, without staging
(:mod:`sluice.lake.direct`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
from sqlalchemy.engine import Engine

from sluice.lake import staging, staging_runs
from sluice.lake.commit import Batch, CommitOutcome, CommitTarget, Fence, commit_batches
from sluice.lake.lease import hold_lease, holder_name


@dataclass(frozen=True)
class LeaseSpec:
    """The metadata store holding the leases (``None``: no lease), and how long a lease lives and is waited for."""

    engine: Engine | None = None
    ttl_s: float = 60.0
    wait_s: float = 600.0


@contextlib.contextmanager
def dataset_lease(spec: LeaseSpec, dataset: str, run_id: str) -> Iterator[Fence | None]:
    """Hold ``dataset``'s commit lease for the block (``None`` inside when ``spec`` has no store)."""
    if spec.engine is None:
        yield None
        return
    with hold_lease(spec.engine, dataset, holder_name(run_id), ttl_s=spec.ttl_s, wait_s=spec.wait_s) as held:
        yield held


def commit_frame(
    target: CommitTarget,
    batch: Batch,
    valid: pa.Table,
    quarantine: pa.Table | None = None,
    *,
    metadata: dict[str, object],
    lease: Fence | None = None,
) -> CommitOutcome:
    """Stage ``valid`` (lake rows, with partition and provenance columns) and ``quarantine`` as ``batch``; commit.

    Raises:
        LakeConflictError, LeaseLostError: as :func:`sluice.lake.commit.commit_batches`; nothing is committed.
    """
    staging_runs.claim_run(target.staging_dir)
    staged = staging.batch_dir(target.staging_dir, 0, batch.id)
    staging.reset(staged)
    try:
        staging.write_valid(staged, valid, 0)
        if quarantine is not None and quarantine.num_rows:
            staging.write_quarantine(staged, quarantine, 0)
        staging.mark_complete(staged)
        return commit_batches(target, [batch], metadata=metadata, lease=lease)
    finally:
        staging.remove_run(target.staging_dir)
