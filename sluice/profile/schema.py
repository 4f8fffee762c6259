"""Schema drift between two runs' profiles: columns that appeared, vanished or changed type."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass


class Change(enum.StrEnum):
    ADDED = "added"
    VANISHED = "vanished"
    RETYPED = "retyped"


@dataclass(frozen=True)
class SchemaChange:
    column: str
    change: Change
    before: str | None  # the Arrow type in the earlier run; None for an added column
    after: str | None  # the Arrow type in the later run; None for a vanished column

    def describe(self) -> str:
        if self.change is Change.ADDED:
            return f"{self.column}: added ({self.after})"
        if self.change is Change.VANISHED:
            return f"{self.column}: vanished (was {self.before})"
        return f"{self.column}: retyped from {self.before} to {self.after}"


def schema_changes(before: Mapping[str, str], after: Mapping[str, str]) -> list[SchemaChange]:
    """What changed from the ``before`` schema to ``after`` (column name to type), in column order.

    An empty ``before`` (no earlier profile) is no drift: a dataset's first run has nothing to differ from.
    """
    if not before:
        return []
    changes = [SchemaChange(c, Change.VANISHED, t, None) for c, t in before.items() if c not in after]
    for column, kind in after.items():
        if column not in before:
            changes.append(SchemaChange(column, Change.ADDED, None, kind))
        elif before[column] != kind:
            changes.append(SchemaChange(column, Change.RETYPED, before[column], kind))
    return changes
