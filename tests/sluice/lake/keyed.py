"""Keyed-table test helpers: a small contract per mode, batches of changes, and the reference in plain Python."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pyarrow as pa
from deltalake import DeltaTable

from sluice.lake.apply import lake_rows
from sluice.validate.contracts import Contract, parse_contract

EPOCH = datetime(2024, 1, 1, tzinfo=timezone.utc)

_YAML = """
name: people
owner: crm@sluice.example
freshness_sla: 1d
primary_key: [id]
partition: {{column: ts}}
mode: {mode}
order_by: ts
deletes: {deletes}
columns:
  - {{name: id, type: int64}}
  - {{name: ts, type: timestamp}}
  - {{name: v, type: string, nullable: true}}
  - {{name: _op, type: string, nullable: true, allowed_values: [i, u, d]}}
"""


def contract(mode: str, deletes: str = "hard") -> Contract:
    return parse_contract(_YAML.format(mode=mode, deletes=deletes))


@dataclass(frozen=True)
class Change:
    """One version of a key: ``hour`` orders it (the contract's ``ts``), ``op`` ``d`` deletes the key."""

    key: int
    hour: int
    op: str
    value: str


def frame(changes: list[Change]) -> pa.Table:
    return pa.table(
        {
            "id": pa.array([c.key for c in changes], pa.int64()),
            "ts": pa.array([EPOCH + timedelta(hours=c.hour) for c in changes], pa.timestamp("us", tz="UTC")),
            "v": pa.array([c.value for c in changes], pa.string()),
            "_op": pa.array([c.op for c in changes], pa.string()),
        }
    )


def rows(changes: list[Change], c: Contract, batch: str) -> pa.Table:
    return lake_rows(frame(changes), c, batch)


Version = tuple[int, int, str, str]  # key, hour, op, value


def _ranked(batches: dict[str, list[Change]]) -> list[tuple[tuple[int, str, int], Change]]:
    """Every change with its rank (hour, batch id, row): the order the contract defines."""
    return [((ch.hour, b, i), ch) for b, changes in batches.items() for i, ch in enumerate(changes)]


def reference_upsert(batches: dict[str, list[Change]], tombstone: bool) -> list[Version]:
    """Latest version of each key over all batches, deletes applied."""
    best: dict[int, tuple[tuple[int, str, int], Change]] = {}
    for rank, ch in _ranked(batches):
        if ch.key not in best or rank > best[ch.key][0]:
            best[ch.key] = (rank, ch)
    kept = [ch for _, ch in best.values() if tombstone or ch.op != "d"]
    return sorted((ch.key, ch.hour, ch.op, ch.value) for ch in kept)


def reference_scd2(batches: dict[str, list[Change]], tombstone: bool) -> list[tuple[int, int, int | None, bool, str]]:
    """Each key's history: one version per hour (the greatest), with valid_to and is_current."""
    best: dict[tuple[int, int], tuple[tuple[int, str, int], Change]] = {}
    for rank, ch in _ranked(batches):
        if (ch.key, ch.hour) not in best or rank > best[(ch.key, ch.hour)][0]:
            best[(ch.key, ch.hour)] = (rank, ch)
    out = []
    for key in sorted({k for k, _ in best}):
        versions = sorted((h, ch) for (k, h), (_, ch) in best.items() if k == key)
        for i, (hour, ch) in enumerate(versions):
            last = i == len(versions) - 1
            if ch.op != "d" or tombstone:
                out.append((key, hour, None if last else versions[i + 1][0], last, ch.value))
    return out


def _hours(col: pa.ChunkedArray) -> list[int | None]:
    return [None if v is None else int((v - EPOCH).total_seconds() // 3600) for v in col.to_pylist()]


def lake_upsert(uri: str) -> list[Version]:
    t = DeltaTable(uri).to_pyarrow_table(columns=["id", "ts", "_op", "v"])
    return sorted(
        zip(
            t.column("id").to_pylist(),
            _hours(t.column("ts")),
            t.column("_op").to_pylist(),
            t.column("v").to_pylist(),
            strict=True,
        )
    )


def lake_scd2(uri: str) -> list[tuple[int, int, int | None, bool, str]]:
    t = DeltaTable(uri).to_pyarrow_table(columns=["id", "valid_from", "valid_to", "is_current", "v"])
    cols = [t.column("id").to_pylist(), _hours(t.column("valid_from")), _hours(t.column("valid_to"))]
    return sorted(zip(*cols, t.column("is_current").to_pylist(), t.column("v").to_pylist(), strict=True))
