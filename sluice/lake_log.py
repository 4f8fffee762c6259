"""The lake's commit log and its cleanup: what each commit says, and removing files no commit references."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sluice.errors import LakeError
from sluice.lake import META_PREFIX, open_table


@dataclass(frozen=True)
class HistoryEntry:
    version: int
    timestamp_ms: int
    operation: str
    run_id: str | None
    metadata: dict[str, Any]


def history(uri: str, *, limit: int | None = None, storage_options: dict[str, str] | None = None) -> list[HistoryEntry]:
    table = open_table(uri, storage_options)
    if table is None:
        raise LakeError(f"no Delta table at {uri}", hint="run an ingestion first, or check --lake")
    entries = []
    for item in table.history(limit):
        meta = {}
        for key, value in item.items():
            if key.startswith(META_PREFIX):
                try:
                    meta[key.removeprefix(META_PREFIX)] = json.loads(value) if isinstance(value, str) else value
                except json.JSONDecodeError:
                    meta[key.removeprefix(META_PREFIX)] = value
        entries.append(HistoryEntry(int(item.get("version", -1)), int(item.get("timestamp", 0)),
                                    str(item.get("operation", "")), meta.get("run_id"), meta))
    return entries


def vacuum(uri: str, *, retention_hours: int, dry_run: bool, storage_options: dict[str, str] | None = None) -> list[str]:
    """Remove files no commit references: tombstoned ones past retention and orphans of killed writers."""
    table = open_table(uri, storage_options)
    if table is None:
        raise LakeError(f"no Delta table at {uri}")
    return list(table.vacuum(retention_hours=retention_hours, dry_run=dry_run, enforce_retention_duration=False,
                             full=True))
