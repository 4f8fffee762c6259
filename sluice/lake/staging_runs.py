"""Who runs a staging folder, and removing the folders of runs that are gone.

Each run claims its folder under the staging root (:mod:`sluice.lake.staging`)
with an owner file, ``_owner.json``: host, pid and process start time. A run
removes its folder when it finishes; a run whose process was killed cannot,
and the next run (or the lake-maintenance flow) removes it with
:func:`remove_stale_runs`. Runs of any dataset share the staging root, so a
folder goes only when its owner is known to be gone: on this host, its
process no longer exists (or the pid now belongs to a process started at
another time); for owners on other hosts, or folders without an owner file,
when nothing in it changed for ``SLUICE_STAGING_STALE_HOURS``.
"""

from __future__ import annotations

import json
import os
import socket
import time
import unicodedata
from dataclasses import asdict, dataclass

from sluice.errors import ConfigError
from sluice.lake.location import Location
from sluice.lake.staging import StagePath, children, remove_tree
from sluice.paths import child_path, ensure_segment, shown

OWNER_FILE = "_owner.json"
# psutil derives a process's start time from the boot time and the clock
# ticks since; the same process reads the same value, another one started
# within this many seconds on the same pid is not told apart.
START_TIME_TOLERANCE_S = 1.0


@dataclass(frozen=True)
class RunOwner:
    """The process that runs a staging folder's run."""

    host: str
    pid: int
    started: float  # the process's start time, seconds since the epoch

    @classmethod
    def current(cls) -> RunOwner:
        import psutil

        return cls(socket.gethostname(), os.getpid(), psutil.Process().create_time())


@dataclass(frozen=True)
class RemovedRun:
    """A stale run folder that was removed, why, and how many bytes it held."""

    run_id: str
    reason: str
    bytes: int


@dataclass(frozen=True)
class StagingCleanup:
    """What :func:`remove_stale_runs` removed, and how many run folders it left in place."""

    removed: list[RemovedRun]
    kept: int

    @property
    def bytes_freed(self) -> int:
        return sum(r.bytes for r in self.removed)

    def summary(self) -> str:
        runs = ", ".join(f"{r.run_id} ({r.reason})" for r in self.removed) or "none"
        return (
            f"removed {len(self.removed)} stale staging run(s), {self.bytes_freed:,} bytes freed, "
            f"kept {self.kept}: {runs}"
        )


def claim_run(run_dir: StagePath, owner: RunOwner | None = None) -> RunOwner:
    """Create ``run_dir`` and write its owner file (atomically: a reader sees all of it or none)."""
    owner = owner or RunOwner.current()
    if isinstance(run_dir, Location):  # an object is written whole or not at all
        (run_dir / OWNER_FILE).write_text(json.dumps(asdict(owner)), encoding="utf-8")
        return owner
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / f".{OWNER_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(asdict(owner)), encoding="utf-8")
    os.replace(tmp, run_dir / OWNER_FILE)
    return owner


def read_owner(run_dir: StagePath) -> RunOwner | None:
    """The owner recorded in ``run_dir``; ``None`` if there is no readable owner file."""
    try:
        raw = json.loads((run_dir / OWNER_FILE).read_text(encoding="utf-8"))
        return RunOwner(str(raw["host"]), int(raw["pid"]), float(raw["started"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def owner_alive(owner: RunOwner) -> bool:
    """Whether ``owner`` (a process on this host) still runs: same pid and same start time, not a zombie."""
    import psutil

    try:
        process = psutil.Process(owner.pid)
        if abs(process.create_time() - owner.started) > START_TIME_TOLERANCE_S:
            return False
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True  # it exists and is not ours to inspect: never remove what may be running


def _usage(run_dir: StagePath) -> tuple[int, float]:
    """Bytes of the files under ``run_dir`` and the newest change time of anything in it.

    Files may vanish while a live run writes; they are skipped.
    """
    if isinstance(run_dir, Location):
        return run_dir.usage()
    size, newest = 0, 0.0
    for folder, dirs, files in os.walk(run_dir, onerror=lambda _: None):
        for name, is_file in [(".", False), *((d, False) for d in dirs), *((f, True) for f in files)]:
            try:
                info = os.lstat(os.path.join(folder, name))
            except OSError:
                continue
            newest = max(newest, info.st_mtime)
            size += info.st_size if is_file else 0
    return size, newest


def stale_reason(run_dir: StagePath, *, host: str, stale_after_s: float, now: float) -> str | None:
    """Why ``run_dir`` is stale, or ``None`` when its run may still be running."""
    owner = read_owner(run_dir)
    if owner is not None and owner.host == host:
        return None if owner_alive(owner) else f"process {owner.pid} on {host} is gone"
    _, newest = _usage(run_dir)
    idle = now - newest
    if idle <= stale_after_s:
        return None
    who = f"owner on {owner.host}" if owner is not None else "no owner file"
    return f"untouched for {idle / 3600:.1f} h, {who}"


def remove_stale_runs(
    root: StagePath, *, stale_hours: float, host: str | None = None, now: float | None = None
) -> StagingCleanup:
    """Remove the run folders under ``root`` whose runs are gone; never one that may still run.

    Args:
        root: the staging root shared by all runs.
        stale_hours: how long a folder of another host's run (or without an
            owner file) must stay untouched before it is removed.
        host: this host's name (default: ``socket.gethostname()``).
        now: the current time in seconds since the epoch (default: now).
    """
    if not root.is_dir():
        return StagingCleanup([], 0)
    host = host or socket.gethostname()
    now = time.time() if now is None else now
    removed, kept = [], 0
    for run_dir in children(root):
        if run_dir.is_symlink() or not run_dir.is_dir():
            continue
        reason = stale_reason(run_dir, host=host, stale_after_s=stale_hours * 3600, now=now)
        if reason is None:
            kept += 1
            continue
        size, _ = _usage(run_dir)
        remove_tree(run_dir)
        removed.append(RemovedRun(run_dir.name, reason, size))
    return StagingCleanup(removed, kept)


def open_run(root: StagePath, run_id: str, *, stale_hours: float) -> tuple[StagePath, StagingCleanup]:
    """Remove stale run folders under ``root``, then create and claim this run's folder.

    Raises:
        ConfigError: ``run_id`` is not a plain name inside ``root``.
    """
    root.mkdir(parents=True, exist_ok=True)
    try:
        run_dir = _run_dir(root, run_id)
    except ConfigError as exc:
        raise ConfigError(f"run id {run_id!r} cannot name a staging folder: {exc.args[0]}", hint=exc.hint) from None
    cleanup = remove_stale_runs(root, stale_hours=stale_hours)
    claim_run(run_dir)
    return run_dir, cleanup


def _run_dir(root: StagePath, run_id: str) -> StagePath:
    if isinstance(root, Location):
        ensure_segment(run_id)
        if any(unicodedata.category(c) == "Cc" for c in run_id):  # S3's XML replies cannot carry them
            raise ConfigError(
                f"path segment {shown(run_id)} holds a control character",
                hint="an object key is built from printable names",
            )
        return root / run_id
    return child_path(root, run_id)
