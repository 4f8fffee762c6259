"""The bytes one run's Delta commit added: the sizes of its add actions, read from the table's log."""

from __future__ import annotations

import json
from collections.abc import Iterable

import pyarrow as pa

from sluice.lake.table import META_PREFIX, lake_filesystem


def log_entry_path(root: str, version: int) -> str:
    return f"{root}/_delta_log/{version:020d}.json"


def added_bytes(log_text: str, run_id: str) -> int:
    """The summed ``size`` of the add actions of one commit's log text, if its commitInfo names ``run_id``; else 0.

    A run that committed nothing reports the table's version as it found it:
    that version's files belong to another run, so they are not counted.
    """
    actions = [json.loads(line) for line in log_text.splitlines() if line.strip()]
    info: dict[str, object] = next((a["commitInfo"] for a in actions if "commitInfo" in a), {})
    if str(info.get(f"{META_PREFIX}run_id", "")).strip('"') != run_id:
        return 0
    return sum(int(a["add"].get("size", 0)) for a in actions if "add" in a)


def commit_bytes(uri: str, version: int | None, run_id: str, storage_options: dict[str, str] | None = None) -> int:
    """The bytes the commit ``version`` of the table at ``uri`` added for ``run_id`` (0 if it is not that run's)."""
    if version is None:
        return 0
    fs, root = lake_filesystem(uri, storage_options)
    try:
        with fs.open_input_stream(log_entry_path(root, version)) as stream:
            text = stream.read().decode()
    except (OSError, pa.ArrowException):
        return 0  # a log entry checkpointed away or unreadable: the run's bytes are not known
    return added_bytes(text, run_id)


def commits_bytes(
    uri: str, versions: Iterable[int | None], run_id: str, storage_options: dict[str, str] | None = None
) -> int:
    """The bytes the commits ``versions`` of the table at ``uri`` added for ``run_id``, each version once."""
    found = {v for v in versions if v is not None}
    return sum(commit_bytes(uri, v, run_id, storage_options) for v in sorted(found))
