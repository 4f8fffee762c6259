"""The profile of the rows one run's commits added to its lake table, read back file by file, batch by batch."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pyarrow as pa
import pyarrow.dataset as pads

from sluice.lake.commit_log import read_commit
from sluice.lake.table import lake_filesystem
from sluice.profile.table import TableProfile, profile_batches

BATCH_ROWS = 65_536


def _added_batches(uri: str, paths: list[str], storage_options: dict[str, str] | None) -> Iterator[pa.RecordBatch]:
    fs, root = lake_filesystem(uri, storage_options)
    for path in paths:
        dataset = pads.dataset(f"{root}/{path}", format="parquet", filesystem=fs)
        yield from dataset.to_batches(batch_size=BATCH_ROWS)


def profile_commit(
    uri: str, versions: Sequence[int | None], run_id: str, storage_options: dict[str, str] | None = None
) -> TableProfile | None:
    """The profile of the files the versions ``versions`` of the table at ``uri`` added, those ``run_id`` made.

    ``None`` when none of them is there, has its log entry, or was made by
    ``run_id`` (a run that committed nothing reports the version it found).
    For a keyed table (upsert, scd2) a commit rewrites the files that hold
    changed keys, so their unchanged rows are profiled too.

    Raises:
        LakeError: a version's log entry cannot be read.
    """
    paths: list[str] = []
    for version in sorted({v for v in versions if v is not None}):
        entry = read_commit(uri, version, storage_options)
        if entry is not None and str(entry.metadata.get("run_id", "")) == run_id:
            paths += [path for path, _ in entry.added]
    if not paths:
        return None
    return profile_batches(_added_batches(uri, paths, storage_options))
