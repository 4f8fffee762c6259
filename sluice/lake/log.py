"""The lake's commit log and its cleanup: what each commit says, and removing files no commit references."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import pyarrow.fs as pafs
from deltalake.exceptions import DeltaError

from sluice.errors import LakeError
from sluice.lake.table import META_PREFIX, lake_filesystem, open_table

if TYPE_CHECKING:
    from deltalake import DeltaTable


@dataclass(frozen=True)
class HistoryEntry:
    version: int
    timestamp_ms: int
    operation: str
    run_id: str | None
    metadata: dict[str, Any]


def history(uri: str, *, limit: int | None = None, storage_options: dict[str, str] | None = None) -> list[HistoryEntry]:
    table = _existing(uri, storage_options)
    entries = []
    for item in table.history(limit):
        meta = {}
        for key, value in item.items():
            if key.startswith(META_PREFIX):
                try:
                    meta[key.removeprefix(META_PREFIX)] = json.loads(value) if isinstance(value, str) else value
                except json.JSONDecodeError:
                    meta[key.removeprefix(META_PREFIX)] = value
        entries.append(
            HistoryEntry(
                int(item.get("version", -1)),
                int(item.get("timestamp", 0)),
                str(item.get("operation", "")),
                meta.get("run_id"),
                meta,
            )
        )
    return entries


@dataclass(frozen=True)
class UnreferencedFile:
    """A file in a table's folder that the table's current version does not reference.

    ``removable`` tells whether a vacuum at the retention asked for would
    remove it; a file younger than the retention is kept (it may belong to a
    writer that is still running). ``bytes`` and ``age_hours`` are ``None``
    when the file vanished before it could be looked at.
    """

    path: str  # relative to the table root
    bytes: int | None
    age_hours: float | None
    removable: bool


def _existing(uri: str, storage_options: dict[str, str] | None) -> DeltaTable:
    table = open_table(uri, storage_options)
    if table is None:
        raise LakeError(f"no Delta table at {uri}", hint="run an ingestion first, or check --lake")
    return table


def _vacuum(table: DeltaTable, retention_hours: int, *, dry_run: bool) -> list[str]:
    try:
        return list(
            table.vacuum(retention_hours=retention_hours, dry_run=dry_run, enforce_retention_duration=False, full=True)
        )
    except (DeltaError, OSError) as exc:
        raise LakeError(
            f"cannot list or remove unreferenced files of {table.table_uri}: {exc}",
            hint="check the lake path, credentials and permissions",
        ) from None


def _file_facts(fs: pafs.FileSystem, root: str, path: str, now_ns: int) -> tuple[int | None, float | None]:
    """Size and age in hours of one file of the table; ``(None, None)`` when it is gone."""
    for candidate in dict.fromkeys([path, unquote(path)]):
        try:
            info = fs.get_file_info(f"{root}/{candidate}")
        except OSError:
            continue
        if info.type == pafs.FileType.File:
            age = (now_ns - info.mtime_ns) / 3.6e12 if info.mtime_ns is not None else None
            return info.size, age
    return None, None


def unreferenced_files(
    uri: str,
    *,
    retention_hours: int,
    storage_options: dict[str, str] | None = None,
) -> list[UnreferencedFile]:
    """Every file of the table at ``uri`` no commit of its current version references, oldest first.

    This includes files removed by earlier commits and orphans of writers
    that were killed before committing, whatever their age; each says whether
    a vacuum at ``retention_hours`` would remove it (delta-rs decides, as the
    vacuum itself does). Nothing is removed.

    Raises:
        LakeError: there is no table at ``uri``.
    """
    table = _existing(uri, storage_options)
    due = set(_vacuum(table, retention_hours, dry_run=True))
    every = sorted(set(_vacuum(table, 0, dry_run=True)) | due)
    fs, root = lake_filesystem(uri, storage_options)
    now_ns = time.time_ns()
    found = []
    for path in every:
        size, age = _file_facts(fs, root, path, now_ns)
        found.append(UnreferencedFile(path, size, age, path in due))
    return sorted(found, key=lambda f: (-(f.age_hours or 0.0), f.path))


def vacuum(
    uri: str, *, retention_hours: int, dry_run: bool, storage_options: dict[str, str] | None = None
) -> list[str]:
    """Remove unreferenced files older than ``retention_hours``: tombstoned ones and orphans of killed writers.

    Files younger than the retention stay, so a writer still running keeps
    its files; ``retention_hours=0`` removes every unreferenced file.
    """
    return _vacuum(_existing(uri, storage_options), retention_hours, dry_run=dry_run)
