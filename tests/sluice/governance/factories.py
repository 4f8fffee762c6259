"""Contracts and lake tables for the governance tests."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from deltalake import write_deltalake

from sluice.validate.contracts import Contract


def contract(name: str = "people", columns: list[dict[str, Any]] | None = None) -> Contract:
    """A contract with an ``id`` key and a ``day`` partition, plus ``columns`` (string unless typed)."""
    declared = [{"type": "string", **c} for c in columns or []]
    return Contract.model_validate(
        {
            "name": name,
            "owner": "team@sluice.example",
            "freshness_sla": "1d",
            "primary_key": ["id"],
            "partition": {"column": "day"},
            "columns": [{"name": "id", "type": "int64"}, {"name": "day", "type": "date"}, *declared],
        }
    )


EMAILS = [f"person{i}@example.com" for i in range(40)]
NAMES = ["Anna Müller", "José García", "Zoë Dubois", "Paul Smith", "Mia Rossi", "Noah Jensen", "Léa Martin"] * 6
PHONES = [f"+49 151 {23456700 + i}" for i in range(40)]
SKUS = [f"SKU-{10000 + i}-AB" for i in range(40)]


def write_table(uri: str, columns: dict[str, list[Any]], *, files: int = 1) -> None:
    """Write ``columns`` to a Delta table at ``uri`` in ``files`` commits (one file each)."""
    table = pa.table(columns)
    step = -(-table.num_rows // files)
    for i in range(files):
        part = table.slice(i * step, step)
        write_deltalake(uri, part, mode="append")
