"""Staging, dedup and commit as plain functions agree with the generator's ground truth."""

from __future__ import annotations

from datetime import date

from demo.samples import generate_orders
from sluice.ingest import (
    StageRequest,
    commit_files,
    commit_target,
    split_evenly,
    stage_file,
)
from sluice.lake.commit import dedup_buckets
from sluice.settings import Settings
from sluice.sources.files import list_source_files
from sluice.validate.contracts import find_contract

MIXED = {
    "fmt": ["csv", "csv", "jsonl", "parquet"],
    "gzip": [False, True, False, False],
    "encoding": ["utf-8", "utf-8", "utf-8", "utf-8"],
}


def _request(tmp_path, chunk_rows: int) -> StageRequest:
    return StageRequest(
        dataset="orders",
        contract=find_contract("orders", Settings().contracts_root()),
        run_id="test",
        run_dir=str(tmp_path / "staging"),
        lake_uri=str(tmp_path / "lake" / "orders"),
        ingest_date=date(2024, 11, 1),
        encoding=None,
        chunk_rows=chunk_rows,
    )


def _run(req: StageRequest, source: str, shares: int):
    outcomes = [stage_file(src, i, req) for i, src in enumerate(list_source_files(source))]
    target = commit_target(req, str(req.run_dir) + "-q")
    outcome = commit_files(
        target,
        outcomes,
        metadata={},
        dedup=lambda plan: [
            b for names in split_evenly(list(plan.buckets), shares) for b in dedup_buckets(target, plan, names)
        ],
    )
    return outcomes, outcome.lake


def test_every_row_lands_once_as_the_manifest_says_over_mixed_formats(tmp_path):
    m = generate_orders(tmp_path / "src", rows=8_000, files=4, seed=1, **MIXED)

    outcomes, result = _run(_request(tmp_path, 3_000), str(tmp_path / "src"), shares=3)

    assert sum(o.rows_read for o in outcomes) == m.rows_total
    assert sum(o.rows_quarantined for o in outcomes) == m.rows_bad
    assert (result.rows_written, result.duplicates_in_run) == (m.rows_unique_valid, m.rows_duplicate)
    assert sum(sum(o.warnings.values()) for o in outcomes) == m.warnings


def test_chunk_size_and_worker_split_do_not_change_the_result(tmp_path):
    generate_orders(tmp_path / "src", rows=6_000, files=3, seed=4)
    results = []
    for i, (chunk_rows, shares) in enumerate([(500, 1), (100_000, 4)]):
        req = _request(tmp_path / f"r{i}", chunk_rows)
        results.append(_run(req, str(tmp_path / "src"), shares)[1])
    small, large = results
    assert (small.rows_written, small.duplicates_in_run) == (large.rows_written, large.duplicates_in_run)
