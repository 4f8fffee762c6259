"""Does the lake hold exactly the source table? The judge of every database drill.

The lake's view of a table depends on how its contract keeps rows
(``mode``, :class:`~sluice.validate.contracts.ApplyMode`) and on the source:

- a **table read** (``ingest-table``) into an ``append`` table: the rows of
  ``<dataset>``, each key once;
- **change capture** into an ``append`` contract: every change is a row of
  ``<dataset>_changes``; replayed in LSN order (a delete removes its key, a
  truncate every key, an update keeps the columns it left untouched) they
  give the table;
- either source into an ``upsert`` (or ``scd2``) contract: the rows of
  ``<dataset>`` as applied (the current version of each key for ``scd2``;
  a tombstone, ``_op = 'd'``, is no row).

:func:`lake_rows` reads that view, :func:`compare` sets it against the source's
rows, column by column over the contract's columns.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pyarrow as pa

from sluice.lake.table import open_table, table_uri
from sluice.sources.cdc.sink import CHANGES_SUFFIX
from sluice.validate.contracts import DELETE_OP, OP_COLUMN, ApplyMode, Contract

Key = tuple[Any, ...]
Rows = dict[Key, dict[str, Any]]
SHOWN = 3


class Via(enum.StrEnum):
    """How the rows reached the lake."""

    TABLE = "table"  # read whole (a snapshot) or by increments: ingest-table
    CHANGES = "changes"  # change capture: capture-changes


@dataclass
class Parity:
    """The lake against the source: keys in both and equal, missing, extra, different or held twice."""

    source_rows: int
    lake_rows: int
    matched: int = 0
    missing: list[Key] = field(default_factory=list)
    extra: list[Key] = field(default_factory=list)
    different: list[tuple[Key, str]] = field(default_factory=list)
    duplicates: list[Key] = field(default_factory=list)
    where: str = ""

    @property
    def held(self) -> bool:
        return not (self.missing or self.extra or self.different or self.duplicates)

    def summary(self) -> str:
        if self.held:
            return f"{self.where} equals the source: {self.matched:,} row(s), every column of the contract"
        parts = []
        for label, keys in (("missing", self.missing), ("not in the source", self.extra)):
            if keys:
                parts.append(f"{len(keys)} key(s) {label} (e.g. {', '.join(map(_shown, keys[:SHOWN]))})")
        if self.different:
            shown = "; ".join(f"{_shown(k)}: {why}" for k, why in self.different[:SHOWN])
            parts.append(f"{len(self.different)} row(s) differ ({shown})")
        if self.duplicates:
            parts.append(
                f"{len(self.duplicates)} key(s) held twice (e.g. {', '.join(map(_shown, self.duplicates[:SHOWN]))})"
            )
        return (
            f"{self.where} does not equal the source ({self.source_rows:,} source row(s), {self.lake_rows:,} in the "
            f"lake): " + "; ".join(parts)
        )


def _shown(key: Key) -> str:
    return str(key[0]) if len(key) == 1 else str(key)


def normal(value: Any) -> Any:
    """A value as both sides can be compared: timestamps in UTC, everything else as it is."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return value


def keyed(records: Iterable[Mapping[str, Any]], contract: Contract) -> tuple[Rows, list[Key]]:
    """Records by primary key, the contract's columns only; keys seen more than once are returned apart."""
    rows: Rows = {}
    twice: list[Key] = []
    for record in records:
        key = tuple(normal(record[k]) for k in contract.primary_key)
        if key in rows:
            twice.append(key)
        rows[key] = {c: normal(record.get(c)) for c in contract.column_names}
    return rows, twice


_RANK = {"d": 0, "t": 0}


def replay(changes: pa.Table, contract: Contract) -> tuple[Rows, list[Key]]:
    """The table a ``<dataset>_changes`` table describes, and the changes held twice (same ``_lsn`` and ``_op``)."""
    columns = [c for c in contract.column_names if c in changes.column_names]
    wanted = [*columns, "_op", "_lsn", *(["_unchanged"] if "_unchanged" in changes.column_names else [])]
    records = changes.select(wanted).to_pylist()
    records.sort(key=lambda r: (r["_lsn"], _RANK.get(r["_op"], 1)))
    seen: set[tuple[int, str]] = set()
    twice: list[Key] = []
    rows: Rows = {}
    for r in records:
        if (r["_lsn"], r["_op"]) in seen:
            twice.append((r["_lsn"], r["_op"]))
            continue
        seen.add((r["_lsn"], r["_op"]))
        if r["_op"] == "t":
            rows.clear()
            continue
        key = tuple(normal(r.get(k)) for k in contract.primary_key)
        if r["_op"] == "d":
            rows.pop(key, None)
            continue
        values = {c: normal(r.get(c)) for c in contract.column_names}
        kept = json.loads(r["_unchanged"]) if r.get("_unchanged") else []
        old = rows.get(key, {})
        rows[key] = {c: old.get(c) if c in kept else v for c, v in values.items()}
    return rows, twice


def _applied(table: pa.Table, contract: Contract) -> tuple[Rows, list[Key]]:
    if contract.mode is ApplyMode.SCD2 and "is_current" in table.column_names:
        table = table.filter(table.column("is_current"))
    records = table.to_pylist()
    if OP_COLUMN in table.column_names:
        records = [r for r in records if r.get(OP_COLUMN) != DELETE_OP]
    return keyed(records, contract)


def lake_rows(
    contract: Contract, lake_root: str, via: Via, storage_options: dict[str, str] | None = None
) -> tuple[Rows, list[Key], str]:
    """The table as the lake holds it (see the module doc), the keys (or changes) held twice, and where from."""
    changes = via is Via.CHANGES and not contract.keyed
    uri = table_uri(lake_root, f"{contract.name}{CHANGES_SUFFIX}" if changes else contract.name)
    found = open_table(uri, storage_options)
    name = uri.rsplit("/", 1)[-1] + (" replayed" if changes else "")
    if found is None:
        return {}, [], f"the lake ({name}, not written yet)"
    table = found.to_pyarrow_table()
    rows, twice = replay(table, contract) if changes else _applied(table, contract)
    return rows, twice, f"the lake ({name})"


def compare(source: Rows, lake: Rows, *, duplicates: list[Key] | None = None, where: str = "the lake") -> Parity:
    """Set ``lake`` against ``source``, key by key and column by column."""
    parity = Parity(len(source), len(lake), duplicates=list(duplicates or []), where=where)
    for key, row in source.items():
        held = lake.get(key)
        if held is None:
            parity.missing.append(key)
            continue
        off = [c for c, v in row.items() if held.get(c) != v]
        if off:
            c = off[0]
            parity.different.append((key, f"{c} is {held.get(c)!r} in the lake, {row[c]!r} at the source"))
        else:
            parity.matched += 1
    parity.extra = [k for k in lake if k not in source]
    return parity


def lake_parity(
    contract: Contract,
    lake_root: str,
    via: Via,
    source: Rows,
    storage_options: dict[str, str] | None = None,
) -> Parity:
    """Whether the lake holds exactly ``source`` (the source table's rows, by key)."""
    rows, twice, where = lake_rows(contract, lake_root, via, storage_options)
    return compare(source, rows, duplicates=twice, where=where)
