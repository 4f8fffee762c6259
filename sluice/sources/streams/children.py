"""A stream batch's exploded arrays into their child datasets, committed before the parent's rows.

The parent's commit records the batch's positions, and the positions are
where a restarted consumer resumes: so each child commits first, with the
parent's batch id (source and position range), under its own lease. A stop
after a child's commit and before the parent's re-reads the batch; the child's
table records the batch id (a batch read again with the same range is
skipped), and its keys (parent key and index) make any other re-read a
duplicate, never a second row. A child row thus never goes missing, and
never lands twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from sluice.formats import RawChunk
from sluice.ingest_children import child_target, validate_children
from sluice.lake.commit import Batch, CommitTarget
from sluice.lake.frames import LeaseSpec, commit_frame, dataset_lease
from sluice.lake.table import table_uri
from sluice.validate.chunk import BatchContext, ChunkResult


@dataclass(frozen=True)
class ChildOutcome:
    """What one batch did in one child dataset (the same counts a parent batch has)."""

    read: int
    valid: int
    quarantined: int
    written: int
    duplicate: int
    version: int | None = None


def commit_children(
    parent: CommitTarget,
    lake_root: str,
    lease: LeaseSpec,
    batch: Batch,
    chunk: RawChunk,
    result: ChunkResult,
    ctx: BatchContext,
) -> dict[str, ChildOutcome]:
    """Validate and commit every child dataset's rows of one parent batch, before the parent's commit."""
    out = {}
    for key, spec in parent.contract.explode.items():
        child = validate_children(chunk, result, ctx, key, spec)
        target = child_target(parent, spec, table_uri(lake_root, spec.dataset))
        with dataset_lease(lease, spec.dataset, parent.run_id) as held:
            done = commit_frame(
                target,
                Batch(batch.source, batch.position, child.rows_read, child.quarantine.num_rows),
                child.valid,
                child.quarantine,
                metadata={"run_id": parent.run_id, "dataset": spec.dataset, "parent": parent.dataset},
                lease=held,
            )
        valid = child.valid.num_rows
        if done.skipped:  # an earlier attempt committed this batch: all its rows are in the table
            out[spec.dataset] = ChildOutcome(child.rows_read, valid, child.quarantine.num_rows, 0, valid)
            continue
        lake = done.lake
        written = lake.rows_written
        out[spec.dataset] = ChildOutcome(
            child.rows_read, valid, child.quarantine.num_rows, written, valid - written, lake.version
        )
    return out
