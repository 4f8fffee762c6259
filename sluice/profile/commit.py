"""The profile of the rows one run's commit added to its lake table, read back file by file, batch by batch."""

from __future__ import annotations

from collections.abc import Iterator

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
    uri: str, version: int | None, run_id: str, storage_options: dict[str, str] | None = None
) -> TableProfile | None:
    """The profile of the files version ``version`` of the table at ``uri`` added, if ``run_id`` made it.

    ``None`` when there is no such version, its log entry is gone, or another
    run made it (a run that committed nothing reports the version it found).
    For a keyed table (upsert, scd2) the commit rewrites the files that hold
    changed keys, so their unchanged rows are profiled too.

    Raises:
        LakeError: the version's log entry cannot be read.
    """
    if version is None:
        return None
    entry = read_commit(uri, version, storage_options)
    if entry is None or str(entry.metadata.get("run_id", "")) != run_id:
        return None
    return profile_batches(_added_batches(uri, [path for path, _ in entry.added], storage_options))
