"""Child datasets of exploded arrays (contract ``explode``): staged beside the parent, committed after it.

Each file's child rows are staged per child dataset under
``<run>/_explode/<child>/``, in the same batch layout as the parent's, and
committed to the child's lake table with the *same* batch id (the file's URI
and sha256). The parent is committed first, then each child under its own
lease; every lake table records the batch ids it holds, so:

- a file is skipped only when the parent and every child table record its batch;
- a run that stopped after the parent's commit restages the file, the parent's
  plan skips the batch it holds and the child commits it: children are
  neither lost nor written twice.

A child of a parent row that goes to quarantine goes there too
(``parent_quarantined``): a child row never lands without its parent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sluice.formats import RawChunk
from sluice.formats.explode import explode_chunk
from sluice.lake import staging
from sluice.lake.commit import CommitTarget
from sluice.runs.records import FileOutcome, FileStatus, RunReport
from sluice.validate.chunk import ROW_COL, BatchContext, ChunkResult, validate_chunk
from sluice.validate.contracts import Contract
from sluice.validate.explode import ExplodeSpec
from sluice.validate.quality import Reason

CHILDREN_DIR = "_explode"


def child_run_dir(run_dir: staging.StagePath, dataset: str) -> staging.StagePath:
    """Where a run stages a child dataset's batches."""
    return run_dir / CHILDREN_DIR / dataset


@dataclass
class ChildStage:
    """One file's staging of one child dataset: where, and what it counted."""

    key: str
    spec: ExplodeSpec
    batch: staging.StagedBatch
    outcome: FileOutcome


def open_children(contract: Contract, run_dir: staging.StagePath, parent: FileOutcome) -> list[ChildStage]:
    """Empty staging folders for a file's child rows, one per exploded array."""
    stages = []
    for key, spec in contract.explode.items():
        batch = staging.batch_dir(child_run_dir(run_dir, spec.dataset), parent.order, parent.batch_id)
        staging.reset(batch)
        outcome = FileOutcome(
            uri=parent.uri,
            order=parent.order,
            status=FileStatus.COMMITTED,
            sha256=parent.sha256,
            batch_id=parent.batch_id,
        )
        stages.append(ChildStage(key, spec, batch, outcome))
    return stages


def _orphans(chunk: RawChunk, result: ChunkResult, owners: np.ndarray) -> np.ndarray:
    """Child positions whose parent row did not stay valid."""
    kept = np.isin(chunk.rows, result.valid.column(ROW_COL).to_numpy(zero_copy_only=False))
    return np.flatnonzero(~kept[owners])


def validate_children(
    chunk: RawChunk, result: ChunkResult, ctx: BatchContext, key: str, spec: ExplodeSpec
) -> ChunkResult:
    """The child rows of one validated parent chunk's arrays under ``key``, validated by the child contract.

    A child of a parent row that did not stay valid fails as ``parent_quarantined``.
    """
    children = explode_chunk(chunk, key, spec)
    orphans = _orphans(chunk, result, children.parent)
    if len(orphans):
        children.chunk.failures.add(
            orphans,
            column=spec.parent_key[0],
            reason=Reason.PARENT_QUARANTINED,
            check="parent_row_valid",
            values=None,
            critical=True,
        )
    child_ctx = BatchContext(spec.dataset, ctx.run_id, ctx.batch_id, ctx.source_file, ctx.ingest_date)
    return validate_chunk(children.chunk, spec.child, child_ctx)


def stage_chunk_children(
    stages: list[ChildStage], chunk: RawChunk, result: ChunkResult, ctx: BatchContext, index: int
) -> None:
    """Explode one validated parent chunk into each child: validate the child rows and stage them."""
    for stage in stages:
        child = validate_children(chunk, result, ctx, stage.key, stage.spec)
        out = stage.outcome
        out.partitions = sorted(set(out.partitions) | set(staging.write_valid(stage.batch, child.valid, index)))
        staging.write_quarantine(stage.batch, child.quarantine, index)
        out.rows_read += child.rows_read
        out.rows_valid += child.valid.num_rows
        out.rows_quarantined += child.quarantine.num_rows
        for key, count in child.warnings.items():
            out.warnings[key] = out.warnings.get(key, 0) + count


def finish_children(stages: list[ChildStage], parent: FileOutcome) -> None:
    """Mark a file's child batches complete (or emptied, when the parent failed) and attach their outcomes."""
    for stage in stages:
        if parent.status is FileStatus.COMMITTED:
            staging.mark_complete(stage.batch)
        else:
            staging.reset(stage.batch)
            stage.outcome.status = FileStatus.FAILED
            stage.outcome.rows_read = stage.outcome.rows_valid = stage.outcome.rows_quarantined = 0
            stage.outcome.partitions = []
        parent.children[stage.spec.dataset] = stage.outcome


def child_target(parent: CommitTarget, spec: ExplodeSpec, lake_uri: str) -> CommitTarget:
    """Where a child dataset's staged batches go."""
    return CommitTarget(
        dataset=spec.dataset,
        contract=spec.child,
        run_id=parent.run_id,
        staging_dir=child_run_dir(parent.staging_dir, spec.dataset),
        lake_uri=lake_uri,
        quarantine_uri=parent.quarantine_uri,
        storage_options=dict(parent.storage_options),
    )


def child_outcomes(outcomes: list[FileOutcome], dataset: str) -> list[FileOutcome]:
    """Each file's outcome for one child dataset (files skipped before staging have none)."""
    return [o.children[dataset] for o in outcomes if dataset in o.children]


def child_report(parent: RunReport, index: int, dataset: str) -> RunReport:
    """The run record of a child dataset: the parent run's id with the child's number appended."""
    return RunReport(
        run_id=f"{parent.run_id}.{index}",
        dataset=dataset,
        source=parent.source,
        env=parent.env,
        started_at=parent.started_at,
        flow=parent.flow,
    )
