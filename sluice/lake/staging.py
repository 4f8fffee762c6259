"""Per-run staging of validated chunks, before the single commit to the lake.

Layout under ``<staging>/<run_id>/``::

    <order>-<batch_id>/valid/bucket=<n>/c<chunk>.arrow   rows of BUCKET_DAYS days, in source order
    <order>-<batch_id>/quarantine/c<chunk>.arrow
    <order>-<batch_id>/_SUCCESS                      the batch was read whole

    _owner.json                                      who runs it: host, pid, process start time

Only batches with ``_SUCCESS`` are committed; a batch that failed midway
leaves nothing behind that could be mistaken for complete data.

A run removes its folder when it finishes; a run whose process was killed
cannot, and the next run (or the lake-maintenance flow) removes it with
:func:`remove_stale_runs`. Runs of any dataset share the staging root, so a
folder goes only when its owner is known to be gone: on this host, its
process no longer exists (or the pid now belongs to a process started at
another time); for owners on other hosts, or folders without an owner file,
when nothing in it changed for ``SLUICE_STAGING_STALE_HOURS``.

The root is a local folder, or an object-store prefix
(``SLUICE_STAGING_URI=s3://bucket/staging``, a :class:`Location`) when the
run's workers are on other hosts: every worker stages where the flow and
the other workers read.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
from pyarrow import feather

from sluice.errors import ConfigError
from sluice.lake.location import Location, is_remote
from sluice.paths import child_path, ensure_segment, shown
from sluice.validate.chunk import PARTITION

# Arrow IPC files, uncompressed, read back memory-mapped: writing is a copy,
# and reading is none. A plain read of some columns of an uncompressed file
# keeps the whole record batch body alive (deduplication, which reads a
# bucket's key columns, held the full bucket in memory); mapped, only the
# pages of those columns are touched, and they are the page cache's, not the
# heap's. With LZ4, used before, a 500k-row file took 1.1-1.2 s to stage
# (thread workers, 5M rows) against 1.0-1.05 s now.
STAGING_COMPRESSION = "uncompressed"
# Dates are staged in buckets of this many days: few files even for daily
# partitions over years, and a bounded key set per deduplication pass (with 8,
# 20M rows over 30 days peaked in deduplication at 0.89 GiB per worker; with 4,
# at 0.72 GiB, in staging).
BUCKET_DAYS = 4
OWNER_FILE = "_owner.json"
# psutil derives a process's start time from the boot time and the clock
# ticks since; the same process reads the same value, another one started
# within this many seconds on the same pid is not told apart.
START_TIME_TOLERANCE_S = 1.0

# A staging place: a local path, or a prefix on an object store.
StagePath = Path | Location


def location(uri: str, options: Mapping[str, str] | None = None) -> StagePath:
    """The staging place ``uri`` names: an object-store :class:`Location` (reached with ``options``), or a path."""
    return Location.of(uri, options) if is_remote(uri) else Path(uri)


def options_of(place: StagePath) -> dict[str, str]:
    """The storage options that reach ``place`` (none for a local path)."""
    return dict(place.options) if isinstance(place, Location) else {}


def remove_tree(place: StagePath) -> None:
    """Remove ``place`` and everything under it; nothing if it is not there."""
    if isinstance(place, Location):
        place.remove_tree()
    else:
        shutil.rmtree(place, ignore_errors=True)


def open_output(place: StagePath) -> pa.NativeFile:
    """A stream writing the file at ``place`` (its folder is created when local)."""
    if isinstance(place, Location):
        return place.open_output()
    return pa.OSFile(str(place), "wb")


def _children(place: StagePath, pattern: str = "*") -> list[StagePath]:
    """The entries of ``place`` whose names match ``pattern``, by name."""
    found: list[StagePath] = list(place.glob(pattern))
    return sorted(found, key=str)


def file_size(place: StagePath) -> int:
    """Bytes of the staged file at ``place``."""
    if isinstance(place, Location):
        return int(place.fs.get_file_info(place.key).size or 0)
    return place.stat().st_size


def _write_arrow(table: pa.Table, place: StagePath) -> None:
    if isinstance(place, Location):
        with place.open_output() as out:
            feather.write_feather(table, out, compression=STAGING_COMPRESSION)
    else:
        feather.write_feather(table, place, compression=STAGING_COMPRESSION)


@dataclass(frozen=True)
class StagedBatch:
    order: int
    batch_id: str
    root: StagePath

    @property
    def valid_dir(self) -> StagePath:
        return self.root / "valid"

    @property
    def quarantine_dir(self) -> StagePath:
        return self.root / "quarantine"

    @property
    def held_dir(self) -> StagePath:
        return self.root / "held"

    def complete(self) -> bool:
        return (self.root / "_SUCCESS").exists()


def batch_dir(run_dir: StagePath, order: int, batch_id: str) -> StagedBatch:
    return StagedBatch(order=order, batch_id=batch_id, root=run_dir / f"{order:06d}-{batch_id}")


def reset(batch: StagedBatch) -> None:
    remove_tree(batch.root)
    batch.root.mkdir(parents=True, exist_ok=True)


def bucket_of(days_since_epoch: np.ndarray) -> np.ndarray:
    return days_since_epoch // BUCKET_DAYS


def day_numbers(table: pa.Table) -> np.ndarray:
    """The partition date of each row as days since 1970."""
    days: np.ndarray = table.column(PARTITION).combine_chunks().cast(pa.int32()).to_numpy(zero_copy_only=False)
    return days


def write_valid(batch: StagedBatch, table: pa.Table, chunk: int) -> list[str]:
    """Write a chunk's valid rows, one file per bucket of dates, in source order; return the dates present.

    Rows are not sorted by date here (a sort moves every column); the
    deduplication orders the survivors of each file by date instead.
    """
    if table.num_rows == 0:
        return []
    days = day_numbers(table)
    buckets = bucket_of(days)
    present = np.unique(buckets)
    for bucket in present:
        folder = batch.valid_dir / f"bucket={int(bucket):06d}"
        folder.mkdir(parents=True, exist_ok=True)
        part = table if len(present) == 1 else table.filter(pa.array(buckets == bucket))
        _write_arrow(part, folder / f"c{chunk:05d}.arrow")
    return [str(pa.scalar(int(d), pa.int32()).cast(pa.date32())) for d in np.unique(days)]


def write_quarantine(batch: StagedBatch, table: pa.Table, chunk: int) -> None:
    if table.num_rows == 0:
        return
    batch.quarantine_dir.mkdir(parents=True, exist_ok=True)
    _write_arrow(table, batch.quarantine_dir / f"c{chunk:05d}.arrow")


def write_held(batch: StagedBatch, table: pa.Table, chunk: int) -> None:
    """Write a chunk's held rows (a reference's orphans kept for late arrival: sluice.lake.held)."""
    if table.num_rows == 0:
        return
    batch.held_dir.mkdir(parents=True, exist_ok=True)
    _write_arrow(table, batch.held_dir / f"c{chunk:05d}.arrow")


def held_files(batch: StagedBatch) -> list[StagePath]:
    return _children(batch.held_dir, "*.arrow") if batch.held_dir.exists() else []


def mark_complete(batch: StagedBatch) -> None:
    (batch.root / "_SUCCESS").write_text("ok\n")


def completed_batches(run_dir: StagePath) -> list[StagedBatch]:
    """The batches of a run that were read whole, in source order."""
    found = []
    for path in _children(run_dir, "*-*"):
        order, _, batch_id = path.name.partition("-")
        staged = StagedBatch(order=int(order), batch_id=batch_id, root=path)
        if staged.complete():
            found.append(staged)
    return found


def bucket_files(batches: list[StagedBatch]) -> dict[str, list[StagePath]]:
    """Staged valid files by date bucket, in source order within each bucket."""
    by_bucket: dict[str, list[StagePath]] = {}
    for staged in batches:
        if not staged.valid_dir.exists():
            continue
        for folder in _children(staged.valid_dir):
            by_bucket.setdefault(folder.name, []).extend(_children(folder, "*.arrow"))
    return dict(sorted(by_bucket.items()))


def quarantine_files(batches: list[StagedBatch]) -> list[StagePath]:
    files: list[StagePath] = []
    for staged in batches:
        if staged.quarantine_dir.exists():
            files.extend(_children(staged.quarantine_dir, "*.arrow"))
    return files


def remove_run(run_dir: StagePath) -> None:
    remove_tree(run_dir)


def read(path: StagePath, columns: list[str] | None = None) -> pa.Table:
    """Read one staged file (optionally only some columns).

    A local file is memory-mapped: the buffers are the file's pages. An
    object is read into memory, only the columns asked for.
    """
    if isinstance(path, Location):
        with path.open_input() as src:
            return feather.read_table(src, columns=columns)
    return feather.read_table(path, columns=columns, memory_map=True)


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
    for run_dir in _children(root):
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
