"""Stage files and commit them as one run; as a program, one writer process of a concurrency test.

    python -m tests.sluice.lake.commit_worker SPEC_JSON

prints one JSON line: the files' statuses and counts, and what the commit wrote.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sluice.ingest import StageRequest, commit_files, commit_target, stage_file
from sluice.lake.commit import CommitOutcome
from sluice.lake.lease import hold_lease
from sluice.runs.metastore import engine_for
from sluice.runs.records import FileOutcome
from sluice.settings import Settings
from sluice.sources.files import list_source_files
from sluice.validate.contracts import find_contract

ORDERS = find_contract("orders", Settings().contracts_root())


@dataclass(frozen=True)
class Spec:
    run_id: str
    files: list[str]
    staging: str
    lake_uri: str
    quarantine_uri: str
    metadata_url: str | None = None  # None: commit without a lease
    dataset: str = "orders"
    storage_options: dict[str, str] | None = None


def stage(spec: Spec) -> tuple[StageRequest, list[FileOutcome]]:
    req = StageRequest(
        dataset=spec.dataset,
        contract=ORDERS,
        run_id=spec.run_id,
        run_dir=str(Path(spec.staging) / spec.run_id),
        lake_uri=spec.lake_uri,
        ingest_date=date(2024, 11, 1),
        chunk_rows=1_000,
        lake_storage_options=dict(spec.storage_options or {}),
    )
    sources = [src for f in spec.files for src in list_source_files(f)]
    return req, [stage_file(src, i, req) for i, src in enumerate(sources)]


def commit(spec: Spec, req: StageRequest, outcomes: list[FileOutcome], **kwargs) -> CommitOutcome:
    target = commit_target(req, spec.quarantine_uri)
    if spec.metadata_url is None:
        return commit_files(target, outcomes, metadata={"run_id": spec.run_id}, **kwargs)
    with hold_lease(engine_for(spec.metadata_url), spec.dataset, spec.run_id, ttl_s=30, wait_s=300) as lease:
        return commit_files(target, outcomes, metadata={"run_id": spec.run_id}, lease=lease, **kwargs)


def run(spec: Spec) -> dict[str, object]:
    req, outcomes = stage(spec)
    try:
        outcome = commit(spec, req, outcomes)
    except Exception as exc:  # noqa: BLE001 - reported to the test
        return {"run_id": spec.run_id, "error": f"{type(exc).__name__}: {exc}"}
    return {
        "run_id": spec.run_id,
        "error": "",
        "files": [
            {
                "batch_id": o.batch_id,
                "status": o.status.value,
                "rows_read": o.rows_read,
                "rows_valid": o.rows_valid,
                "rows_quarantined": o.rows_quarantined,
            }
            for o in outcomes
        ],
        "rows_written": outcome.lake.rows_written,
        "rows_duplicate": outcome.lake.duplicates_in_run + outcome.lake.duplicates_in_lake,
        "committed": outcome.committed,
        "skipped": outcome.skipped,
        "attempts": outcome.attempts,
    }


if __name__ == "__main__":
    print(json.dumps(run(Spec(**json.loads(sys.argv[1])))))
