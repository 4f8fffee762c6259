"""Per-run staging of validated chunks, before the single commit to the lake.

Layout under ``<staging>/<run_id>/``::

    <order>-<batch_id>/valid/bucket=<n>/c<chunk>.arrow   rows of BUCKET_DAYS days, in source order
    <order>-<batch_id>/quarantine/c<chunk>.arrow
    <order>-<batch_id>/_SUCCESS                      the batch was read whole

    _owner.json                                      who runs it: host, pid, process start time

Only batches with ``_SUCCESS`` are committed; a batch that failed midway
leaves nothing behind that could be mistaken for complete data.

A run claims its folder (``_owner.json``) and removes it when it finishes;
:mod:`sluice.lake.staging_runs` removes the folders of runs that are gone.

The root is a local folder, or an object-store prefix
(``SLUICE_STAGING_URI=s3://bucket/staging``, a :class:`Location`) when the
run's workers are on other hosts: every worker stages where the flow and
the other workers read.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
from pyarrow import feather

from sluice.lake.location import Location, is_remote
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


def children(place: StagePath, pattern: str = "*") -> list[StagePath]:
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
    return children(batch.held_dir, "*.arrow") if batch.held_dir.exists() else []


def mark_complete(batch: StagedBatch) -> None:
    (batch.root / "_SUCCESS").write_text("ok\n")


def completed_batches(run_dir: StagePath) -> list[StagedBatch]:
    """The batches of a run that were read whole, in source order."""
    found = []
    for path in children(run_dir, "*-*"):
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
        for folder in children(staged.valid_dir):
            by_bucket.setdefault(folder.name, []).extend(children(folder, "*.arrow"))
    return dict(sorted(by_bucket.items()))


def quarantine_files(batches: list[StagedBatch]) -> list[StagePath]:
    files: list[StagePath] = []
    for staged in batches:
        if staged.quarantine_dir.exists():
            files.extend(children(staged.quarantine_dir, "*.arrow"))
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
