"""Per-run staging of validated chunks, before the single commit to the lake.

Layout under ``<staging>/<run_id>/``::

    <order>-<batch_id>/valid/bucket=<n>/c<chunk>.arrow   rows of BUCKET_DAYS days, in source order
    <order>-<batch_id>/quarantine/c<chunk>.arrow
    <order>-<batch_id>/_SUCCESS                      the batch was read whole

Only batches with ``_SUCCESS`` are committed; a batch that failed midway
leaves nothing behind that could be mistaken for complete data.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather

from sluice.validate import PARTITION

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


@dataclass(frozen=True)
class StagedBatch:
    order: int
    batch_id: str
    root: Path

    @property
    def valid_dir(self) -> Path:
        return self.root / "valid"

    @property
    def quarantine_dir(self) -> Path:
        return self.root / "quarantine"

    def complete(self) -> bool:
        return (self.root / "_SUCCESS").exists()


def batch_dir(run_dir: Path, order: int, batch_id: str) -> StagedBatch:
    return StagedBatch(order=order, batch_id=batch_id, root=run_dir / f"{order:06d}-{batch_id}")


def reset(batch: StagedBatch) -> None:
    shutil.rmtree(batch.root, ignore_errors=True)
    batch.root.mkdir(parents=True, exist_ok=True)


def bucket_of(days_since_epoch: np.ndarray) -> np.ndarray:
    return days_since_epoch // BUCKET_DAYS


def day_numbers(table: pa.Table) -> np.ndarray:
    """The partition date of each row as days since 1970."""
    return table.column(PARTITION).combine_chunks().cast(pa.int32()).to_numpy(zero_copy_only=False)


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
        feather.write_feather(part, folder / f"c{chunk:05d}.arrow", compression=STAGING_COMPRESSION)
    return [str(pa.scalar(int(d), pa.int32()).cast(pa.date32())) for d in np.unique(days)]


def write_quarantine(batch: StagedBatch, table: pa.Table, chunk: int) -> None:
    if table.num_rows == 0:
        return
    batch.quarantine_dir.mkdir(parents=True, exist_ok=True)
    feather.write_feather(table, batch.quarantine_dir / f"c{chunk:05d}.arrow", compression=STAGING_COMPRESSION)


def mark_complete(batch: StagedBatch) -> None:
    (batch.root / "_SUCCESS").write_text("ok\n")


def completed_batches(run_dir: Path) -> list[StagedBatch]:
    """The batches of a run that were read whole, in source order."""
    found = []
    for path in sorted(run_dir.glob("*-*")):
        order, _, batch_id = path.name.partition("-")
        staged = StagedBatch(order=int(order), batch_id=batch_id, root=path)
        if staged.complete():
            found.append(staged)
    return found


def bucket_files(batches: list[StagedBatch]) -> dict[str, list[Path]]:
    """Staged valid files by date bucket, in source order within each bucket."""
    by_bucket: dict[str, list[Path]] = {}
    for staged in batches:
        if not staged.valid_dir.exists():
            continue
        for folder in sorted(staged.valid_dir.iterdir()):
            by_bucket.setdefault(folder.name, []).extend(sorted(folder.glob("*.arrow")))
    return dict(sorted(by_bucket.items()))


def quarantine_files(batches: list[StagedBatch]) -> list[Path]:
    files: list[Path] = []
    for staged in batches:
        if staged.quarantine_dir.exists():
            files.extend(sorted(staged.quarantine_dir.glob("*.arrow")))
    return files


def remove_run(run_dir: Path) -> None:
    shutil.rmtree(run_dir, ignore_errors=True)


def read(path: Path, columns: list[str] | None = None) -> pa.Table:
    """Read one staged file (optionally only some columns), memory-mapped: the buffers are the file's pages."""
    return feather.read_table(path, columns=columns, memory_map=True)
