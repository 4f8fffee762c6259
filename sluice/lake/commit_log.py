"""One version of a table as its Delta log records it: the files it added and removed, its batches, its metadata."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.fs as pafs

from sluice.errors import LakeError
from sluice.lake.table import META_PREFIX, lake_filesystem

LOG_DIR = "_delta_log"
MAX_ENTRY_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class CommitEntry:
    """What ``_delta_log/<version>.json`` says; paths are relative to the table, URL-decoded."""

    version: int
    operation: str
    added: list[tuple[str, int]] = field(default_factory=list)  # (path, size)
    removed: list[str] = field(default_factory=list)
    app_ids: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)  # the sluice.* keys, JSON values decoded


def entry_path(root: str, version: int) -> str:
    return f"{root}/{LOG_DIR}/{version:020d}.json"


def _decoded(value: object) -> object:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def parse_entry(version: int, text: str) -> CommitEntry:
    entry = CommitEntry(version, "")
    operation = ""
    for line in text.splitlines():
        if not line.strip():
            continue
        action = json.loads(line)
        if "add" in action:
            entry.added.append((unquote(action["add"]["path"]), int(action["add"]["size"])))
        elif "remove" in action:
            entry.removed.append(unquote(action["remove"]["path"]))
        elif "txn" in action:
            entry.app_ids.append(str(action["txn"]["appId"]))
        elif "commitInfo" in action:
            info = action["commitInfo"]
            operation = str(info.get("operation", ""))
            for key, value in info.items():
                if key.startswith(META_PREFIX):
                    entry.metadata[key.removeprefix(META_PREFIX)] = _decoded(value)
    return CommitEntry(version, operation, entry.added, entry.removed, entry.app_ids, entry.metadata)


def read_commit(uri: str, version: int, storage_options: dict[str, str] | None = None) -> CommitEntry | None:
    """Version ``version`` of the table at ``uri`` as its log entry records it; ``None`` when the log lacks it.

    A log entry goes when the log is cleaned up after a checkpoint (after
    ``delta.logRetentionDuration``, 30 days by default).

    Raises:
        LakeError: the entry cannot be read or is not a Delta log entry.
    """
    fs, root = lake_filesystem(uri, storage_options)
    path = entry_path(root, version)
    try:
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.NotFound:
            return None
        with fs.open_input_stream(path) as stream:
            text = bytes(stream.read(MAX_ENTRY_BYTES)).decode("utf-8")
        return parse_entry(version, text)
    except (OSError, pa.ArrowException) as exc:
        raise LakeError(
            f"cannot read version {version} of {uri}: {exc}", hint="check the lake path and credentials"
        ) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise LakeError(
            f"version {version} of {uri} is not a readable Delta log entry: {exc}", hint="check the table's _delta_log"
        ) from None
