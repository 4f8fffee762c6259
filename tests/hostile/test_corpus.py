"""Every hostile file ends in a clear error, a quarantine entry with its reason, or correct data.

Never a traceback, a hang, a crash or a silent change: each group of cases
is staged in a child process with a time limit, so a parser that crashes or
spins fails its case by name.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hostile.corpus import CASES, Case

ROOT = Path(__file__).resolve().parents[2]


def _groups() -> list[tuple[str, list[Case]]]:
    by_env: dict[str, list[Case]] = {}
    for case in CASES:
        by_env.setdefault(json.dumps(case.env, sort_keys=True), []).append(case)
    return list(by_env.items())


def _stage_all(work: Path, todo: dict[str, Case], env: dict[str, str]) -> dict[str, dict[str, object]]:
    """Stage ``todo`` in child processes; a child that dies marks its current case and a new one goes on."""
    results: dict[str, dict[str, object]] = {}
    while todo:
        proc = subprocess.run(
            [sys.executable, "-m", "tests.hostile.stage_cases", str(work), *todo],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        for line in proc.stdout.splitlines():
            if line.startswith("{"):
                out = json.loads(line)
                results[todo.pop(out["uri"]).name] = out
        if proc.returncode != 0 and todo:
            culprit = next(iter(todo))
            results[todo.pop(culprit).name] = {"crashed": proc.returncode, "stderr": proc.stderr[-3000:]}
    return results


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    """Stage the whole corpus; the outcome of each case by name (or the child's failure)."""
    results: dict[str, dict[str, object]] = {}
    for i, (env_key, cases) in enumerate(_groups()):
        work = tmp_path_factory.mktemp(f"hostile-{i}")
        paths = []
        for case in cases:
            folder = work / "src" / case.name.replace(" ", "-").replace(",", "")
            folder.mkdir(parents=True)
            case.write(folder / case.filename)
            paths.append(str(folder / case.filename))
        env = {**os.environ, **json.loads(env_key), "PYTHONPATH": str(ROOT), "SLUICE_HOME": str(work / "home")}
        results.update(_stage_all(work, dict(zip(paths, cases, strict=True)), env))
    return results


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_file_ends_in_a_clear_error_a_reason_or_correct_data(case: Case, staged) -> None:
    out = staged[case.name]
    assert "crashed" not in out, f"staging died or raised (exit {out.get('crashed')}): {out.get('stderr')}"
    expect = case.expect
    if expect.error or (expect.may_fail and out["status"] == "failed"):
        assert out["status"] == "failed", out
        assert all(word in out["error"] for word in expect.error), out["error"]
        assert "Traceback" not in out["error"]
        return
    assert out["status"] == "committed", out
    assert out["rows_read"] == out["rows_valid"] + out["rows_quarantined"]
    for name, wanted in (("rows_read", expect.rows_read), ("rows_valid", expect.rows_valid)):
        if wanted is not None:
            assert out[name] == wanted, (name, out)
    if expect.reasons:
        assert set(out["reasons"]) == set(expect.reasons), out["reasons"]
    for key in expect.warnings:
        assert out["warnings"].get(key, 0) > 0, out["warnings"]
    if expect.order_ts:
        assert tuple(out["order_ts"]) == expect.order_ts
    for email in expect.emails:
        assert email in out["emails"]
    if expect.emails:
        assert not any("Ã" in e for e in out["emails"]), "text was decoded with the wrong code page"
