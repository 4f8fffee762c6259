"""Stale staging: folders of killed runs are removed, folders of runs still running never are."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from sluice.errors import ConfigError
from sluice.lake import staging_runs
from sluice.lake.staging_runs import (
    OWNER_FILE,
    RunOwner,
    claim_run,
    open_run,
    read_owner,
    remove_stale_runs,
)
from tests.staging_owner import kill, start_owner

HOUR = 3600.0


def _run_folder(root: Path, name: str, owner: RunOwner | None, size: int = 10) -> Path:
    run_dir = root / name
    if owner is not None:
        claim_run(run_dir, owner)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "data.arrow").write_bytes(b"x" * size)
    return run_dir


def _age(path: Path, hours: float) -> None:
    """Make everything in ``path`` look untouched for ``hours``."""
    then = time.time() - hours * HOUR
    for folder, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            os.utime(os.path.join(folder, name), (then, then))
    os.utime(path, (then, then))


def test_claim_writes_this_process_as_the_owner(tmp_path):
    owner = claim_run(tmp_path / "run-1")

    assert read_owner(tmp_path / "run-1") == owner
    assert owner.pid == os.getpid() and owner.host == socket.gethostname()
    assert owner.started == pytest.approx(psutil.Process().create_time())
    assert json.loads((tmp_path / "run-1" / OWNER_FILE).read_text())["pid"] == os.getpid()


def test_the_folder_of_a_killed_run_is_removed_and_a_running_ones_survives(tmp_path):
    root = tmp_path / "staging"
    killed = start_owner(root / "killed-run", size=50_000)
    running = start_owner(root / "running-run")
    try:
        kill(killed)

        cleanup = remove_stale_runs(root, stale_hours=24)

        assert [r.run_id for r in cleanup.removed] == ["killed-run"]
        assert cleanup.removed[0].bytes >= 50_000 and "is gone" in cleanup.removed[0].reason
        assert cleanup.kept == 1 and cleanup.bytes_freed == cleanup.removed[0].bytes
        assert not (root / "killed-run").exists()
        assert (root / "running-run" / "000000-batch" / "valid" / "c00000.arrow").exists()
    finally:
        kill(killed)
        kill(running)


def test_a_pid_reused_by_another_process_does_not_keep_the_folder(tmp_path):
    me = RunOwner.current()
    _run_folder(tmp_path, "reused", RunOwner(me.host, me.pid, me.started - 1000))
    _run_folder(tmp_path, "mine", me)

    cleanup = remove_stale_runs(tmp_path, stale_hours=24)

    assert [r.run_id for r in cleanup.removed] == ["reused"]
    assert (tmp_path / "mine").exists()


def test_a_zombie_owner_counts_as_gone(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while psutil.Process(child.pid).status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        owner = RunOwner(socket.gethostname(), child.pid, psutil.Process(child.pid).create_time())
        _run_folder(tmp_path, "zombie", owner)

        assert [r.run_id for r in remove_stale_runs(tmp_path, stale_hours=24).removed] == ["zombie"]
    finally:
        child.wait()


def test_folders_of_other_hosts_go_only_after_the_stale_hours(tmp_path):
    other = RunOwner("another-host", 1, 0.0)
    fresh = _run_folder(tmp_path, "fresh", other)
    old = _run_folder(tmp_path, "old", other)
    _age(old, 30)
    half = _run_folder(tmp_path, "half", other)
    _age(half, 30)
    (half / "000001-batch").mkdir()  # a live run elsewhere just wrote here

    cleanup = remove_stale_runs(tmp_path, stale_hours=24)

    assert [r.run_id for r in cleanup.removed] == ["old"]
    assert "untouched for 30.0 h, owner on another-host" in cleanup.removed[0].reason
    assert fresh.exists() and half.exists()


def test_folders_without_an_owner_file_go_only_after_the_stale_hours(tmp_path):
    _run_folder(tmp_path, "new", None)
    _age(_run_folder(tmp_path, "ancient", None), 48)
    (tmp_path / "not-a-run.txt").write_text("left alone")

    cleanup = remove_stale_runs(tmp_path, stale_hours=24)

    assert [(r.run_id, r.reason) for r in cleanup.removed] == [("ancient", "untouched for 48.0 h, no owner file")]
    assert (tmp_path / "new").exists() and (tmp_path / "not-a-run.txt").exists()


def test_an_unreadable_owner_file_is_treated_as_no_owner(tmp_path):
    run_dir = _run_folder(tmp_path, "garbled", None)
    (run_dir / OWNER_FILE).write_text("{not json")

    assert read_owner(run_dir) is None
    assert remove_stale_runs(tmp_path, stale_hours=24).removed == []


def test_a_symbolic_link_in_the_staging_root_is_never_followed(tmp_path):
    outside = tmp_path / "outside"
    _age(_run_folder(outside, "precious", None), 100)
    (tmp_path / "staging").mkdir()
    os.symlink(outside / "precious", tmp_path / "staging" / "link")

    assert remove_stale_runs(tmp_path / "staging", stale_hours=1).removed == []
    assert (outside / "precious" / "data.arrow").exists()


def test_open_run_clears_stale_folders_then_claims_its_own(tmp_path):
    root = tmp_path / "staging"
    left = _run_folder(root, "left-behind", RunOwner("gone-host", 7, 0.0), size=123)
    _age(left, 25)
    size = sum(p.stat().st_size for p in left.rglob("*") if p.is_file())

    run_dir, cleanup = open_run(root, "run-2", stale_hours=24)

    assert run_dir == root / "run-2" and read_owner(run_dir) == RunOwner.current()
    assert [(r.run_id, r.bytes) for r in cleanup.removed] == [("left-behind", size)]
    assert f"1 stale staging run(s), {size:,} bytes freed" in cleanup.summary()


@pytest.mark.parametrize("run_id", ["..", "../elsewhere", "a/b", ""])
def test_open_run_refuses_a_run_id_that_is_not_a_plain_name(tmp_path, run_id):
    with pytest.raises(ConfigError, match="cannot name a staging folder"):
        open_run(tmp_path / "staging", run_id, stale_hours=24)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["staging"]


def test_a_missing_staging_root_has_nothing_to_clear(tmp_path):
    assert staging_runs.remove_stale_runs(tmp_path / "none", stale_hours=1) == staging_runs.StagingCleanup([], 0)
