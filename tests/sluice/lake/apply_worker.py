"""One writer process of the keyed-table concurrency test: stage batches of changes, commit them under the lease.

python -m tests.sluice.lake.apply_worker SPEC_JSON
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sluice.lake import staging
from sluice.lake.commit import Batch, CommitTarget, commit_batches
from sluice.lake.lease import hold_lease
from sluice.runs.metastore import engine_for
from tests.sluice.lake.keyed import Change, contract, rows


def run(spec: dict) -> dict[str, object]:
    c = contract(spec["mode"], spec["deletes"])
    run_dir = Path(spec["staging"]) / spec["run_id"]
    batches = []
    for order, (source, changes) in enumerate(spec["batches"]):
        batch = Batch(source, "0", len(changes), 0)
        staged = staging.batch_dir(run_dir, order, batch.id)
        staging.reset(staged)
        staging.write_valid(staged, rows([Change(*ch) for ch in changes], c, batch.id), 0)
        staging.mark_complete(staged)
        batches.append(batch)
    target = CommitTarget("people", c, spec["run_id"], run_dir, spec["lake_uri"], spec["quarantine_uri"])
    if spec.get("metadata_url"):
        with hold_lease(engine_for(spec["metadata_url"]), "people", spec["run_id"], ttl_s=30, wait_s=300) as lease:
            outcome = commit_batches(target, batches, metadata={}, lease=lease)
    else:
        outcome = commit_batches(target, batches, metadata={})
    r = outcome.lake
    return {
        "read": sum(b.rows_read for b in batches if b.id in outcome.committed),
        "accounted": r.rows_written + r.rows_updated + r.rows_deleted + r.rows_unchanged + r.duplicates_in_run,
        "committed": outcome.committed,
        "skipped": outcome.skipped,
    }


if __name__ == "__main__":
    print(json.dumps(run(json.loads(sys.argv[1]))))
