"""Compaction while ingestion runs commit to the same table: no row lost, none duplicated."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sluice.errors import LakeConflictError
from sluice.lake.maintain import optimize_table
from sluice.lake.maintain_dataset import layout_plan, optimize_dataset
from sluice.lake.table import table_uri
from tests.sluice.lake.commit_worker import run
from tests.sluice.lake.maintained import order_file, rows, run_spec

ROOT = Path(__file__).resolve().parents[3]
WRITERS = 3


def _start_writers(root: Path, lake_uri: str, metadata_url: str) -> list[subprocess.Popen[str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = []
    for i in range(2, 2 + WRITERS):
        spec = dataclasses.replace(
            run_spec(root, f"run-{i}", [order_file(root, i)], metadata_url=metadata_url), lake_uri=lake_uri
        )
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "tests.sluice.lake.commit_worker", json.dumps(dataclasses.asdict(spec))],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    return procs


def _reference(root: Path, files: list[Path]) -> list[tuple[object, ...]]:
    """The rows the same files make in a table nobody compacts."""
    spec = run_spec(root / "reference", "reference", files)
    assert run(spec)["error"] == ""
    return rows(spec.lake_uri)


@pytest.mark.parametrize("lease", [True, False], ids=["optimize-under-lease", "optimize-outside-lease"])
def test_compaction_during_ingestion_runs_loses_and_duplicates_no_row(sluice_home, tmp_path, lease):
    settings = sluice_home
    uri = table_uri(settings.lake_root(), "orders")
    meta = settings.metadata_db_url()
    for i in range(2):  # two runs first: every date has two files, so the first optimize has work
        spec = dataclasses.replace(run_spec(tmp_path, f"run-{i}", [order_file(tmp_path, i)]), lake_uri=uri)
        assert run(spec)["error"] == ""
    plan = layout_plan(settings, "orders", zorder=["customer_id"])
    procs = _start_writers(tmp_path, uri, meta)
    optimized = []
    while any(p.poll() is None for p in procs) or not optimized:
        try:
            if lease:
                optimized.append(optimize_dataset(settings, plan, run_id="maintenance"))
            else:
                optimized.append(optimize_table(uri, zorder=plan.zorder, target_size=plan.target_size))
        except LakeConflictError:  # writers changed the files on every attempt: nothing of it is visible
            pass
        time.sleep(0.3)  # a pause between optimizations, as between scheduled ones: waiting writers get the lease
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
        reports.append(json.loads(out.strip().splitlines()[-1]))
    optimized.append(optimize_table(uri))

    failed = [r for r in reports if r["error"]]
    assert all("LakeConflictError" in r["error"] for r in failed)  # a run that gave up says so, and wrote nothing
    if lease:
        assert failed == [] and all(r.lease_token is not None for r in optimized[:-1])
    landed = [0, 1] + [i for i, r in zip(range(2, 2 + WRITERS), reports, strict=True) if not r["error"]]
    assert rows(uri) == _reference(tmp_path, [order_file(tmp_path, i) for i in landed])
    assert any(r.changed for r in optimized)
