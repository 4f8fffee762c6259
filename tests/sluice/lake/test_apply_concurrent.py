"""Writer processes applying overlapping batches to one upsert table leave what serial application leaves."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from sluice.lake.commit import Batch
from tests.sluice.lake.apply_worker import run
from tests.sluice.lake.keyed import Change, lake_upsert, reference_upsert

ROOT = Path(__file__).resolve().parents[3]


def _batches(seed: int) -> list[tuple[str, list[list[object]]]]:
    rng = random.Random(seed)
    return [
        (
            f"src-{i}",
            [[rng.randrange(30), rng.randrange(48), rng.choice("iud"), rng.choice("abcdef")] for _ in range(25)],
        )
        for i in range(8)
    ]


def _spec(tmp_path: Path, run_id: str, picked: list, lake: str, lease: bool) -> dict[str, object]:
    return {
        "run_id": run_id,
        "mode": "upsert",
        "deletes": "tombstone",
        "batches": picked,
        "staging": str(tmp_path / "staging"),
        "lake_uri": str(tmp_path / lake),
        "quarantine_uri": str(tmp_path / "quarantine"),
        "metadata_url": f"sqlite:///{tmp_path / 'meta.db'}" if lease else None,
    }


@pytest.mark.parametrize("lease", [True, False], ids=["with-lease", "delta-alone"])
def test_four_writer_processes_on_an_upsert_table_leave_the_serial_result(tmp_path, lease):
    batches = _batches(7)
    picks = [[0, 1, 2, 3], [2, 3, 4, 5], [5, 6, 7, 0], [1, 3, 5, 7]]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.sluice.lake.apply_worker",
                json.dumps(_spec(tmp_path, f"w{i}", [batches[j] for j in p], "lake", lease)),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, p in enumerate(picks)
    ]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        if proc.returncode != 0 and not lease and "LakeConflictError" in err:
            continue  # without the lease a writer may lose every attempt; what it staged is left out
        assert proc.returncode == 0, err[-2000:]
        reports.append(json.loads(out.strip().splitlines()[-1]))

    committed = [b for r in reports for b in r["committed"]]
    assert len(committed) == len(set(committed))  # each batch once
    assert all(r["read"] == r["accounted"] for r in reports)  # conservation per run
    ids = {Batch(s, "0").id: (s, ch) for s, ch in batches}
    applied = {b: [Change(*ch) for ch in ids[b][1]] for b in committed}
    assert lake_upsert(str(tmp_path / "lake")) == reference_upsert(applied, tombstone=True)
    if lease:
        assert sorted(committed) == sorted(ids)
        serial = run(_spec(tmp_path, "serial", batches, "serial-lake", lease=False))
        assert lake_upsert(str(tmp_path / "serial-lake")) == lake_upsert(str(tmp_path / "lake"))
        assert serial["read"] == serial["accounted"]
