"""How a dataset contract may change: its columns judged by :mod:`sluice.validate.compat`, plus the lake's rules.

A contract's columns map onto compat's neutral fields (a nullable column is a
nullable field, a warning column is not enforced, ``allowed_values`` are
symbols, ``min``/``max``/``max_length``/``pattern`` constrain values).
Besides the declared compatibility level, some changes break the lake at
every level, ``NONE`` included:

- the primary key, the partition, ``mode``, ``order_by`` or ``deletes``: the
  table's rows are laid out and deduplicated by them;
- a column's type: the Delta table keeps the type it was created with;
- a removed (or renamed) column when the contract says ``removed_columns: refuse``.

A schema change must raise ``version``; changes that leave the schema as it is
(description, owner, SLA, source parsing, PII flags...) need no new version.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sluice.validate.compat import Change, Compatibility, Field, FieldType, breaking_changes, judge
from sluice.validate.contracts import ColumnSpec, ColumnType, Contract, RemovedColumns

FIELD_TYPES = {
    ColumnType.STRING: FieldType.STRING,
    ColumnType.INT64: FieldType.LONG,
    ColumnType.FLOAT64: FieldType.DOUBLE,
    ColumnType.BOOL: FieldType.BOOLEAN,
    ColumnType.TIMESTAMP: FieldType.TIMESTAMP,
    ColumnType.DATE: FieldType.DATE,
    ColumnType.LIST: FieldType.ARRAY,
}
_LAYOUT = ("primary_key", "partition", "mode", "order_by", "deletes")
_SCHEMA_KEYS = {"name", "version", "columns", *_LAYOUT}
_COLUMN_SCHEMA_KEYS = {
    "name",
    "type",
    "nullable",
    "criticality",
    "allowed_values",
    "min",
    "max",
    "pattern",
    "max_length",
}


def column_field(column: ColumnSpec) -> Field:
    """A contract column as a neutral schema field."""
    return Field(
        name=column.name,
        type=FIELD_TYPES[column.type],
        nullable=column.nullable,
        enforced=column.critical,
        symbols=frozenset(column.allowed_values) if column.allowed_values is not None else None,
        minimum=column.min,
        maximum=column.max,
        max_length=column.max_length,
        pattern=column.pattern,
        items=FIELD_TYPES[column.items] if column.items is not None else None,
    )


def contract_fields(contract: Contract) -> list[Field]:
    return [column_field(c) for c in contract.columns]


@dataclass(frozen=True)
class LakeBreak:
    """A change the lake cannot take at any compatibility level (``field`` None: the contract's own)."""

    field: str | None
    what: str
    old: object
    new: object
    reason: str


@dataclass(frozen=True)
class Breach:
    """A change that breaks the declared level, judged against the contract's version ``against``."""

    against: int
    change: Change


@dataclass(frozen=True)
class ContractDiff:
    """What changed from one version of a contract to the next, and whether the change is allowed."""

    name: str
    old_version: int
    new_version: int
    declared: Compatibility
    level: str  # FULL, BACKWARD, FORWARD or NONE: what the change from the previous version keeps
    changes: tuple[Change, ...]
    lake: tuple[LakeBreak, ...]
    breaches: tuple[Breach, ...]
    other: tuple[str, ...] = ()  # changed settings that leave the schema as it is

    @property
    def schema_changed(self) -> bool:
        return bool(self.changes or self.lake)

    @property
    def version_problem(self) -> str | None:
        if self.new_version < self.old_version:
            return f"version went down from {self.old_version} to {self.new_version}"
        if self.schema_changed and self.new_version == self.old_version:
            return f"the schema changed but version is still {self.new_version}: raise it"
        return None

    @property
    def ok(self) -> bool:
        return not self.breaches and not self.lake and self.version_problem is None

    @property
    def problems(self) -> list[str]:
        """One line per reason the change is not allowed."""
        lines = [
            f"{f'{b.field}: ' if b.field else ''}{b.what} {_shown(b.old)} -> {_shown(b.new)}: {b.reason}"
            for b in self.lake
        ]
        lines += [
            f"{b.change.field}: {describe(b.change)} breaks {self.declared.value} "
            f"(against version {b.against}: keeps {b.change.effect})"
            for b in self.breaches
        ]
        if (problem := self.version_problem) is not None:
            lines.append(problem)
        return lines


def _shown(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def describe(change: Change) -> str:
    """A change in a few words: ``added long``, ``type long -> double``, ``nullable False -> True``."""
    if change.what == "added":
        return f"added {change.new}"
    if change.what == "removed":
        return f"removed {change.old}"
    return f"{change.what} {_shown(change.old)} -> {_shown(change.new)}"


def _lake_breaks(old: Contract, new: Contract, changes: Sequence[Change]) -> list[LakeBreak]:
    breaks = []
    for key in _LAYOUT:
        before, after = _layout(old, key), _layout(new, key)
        if before != after:
            reason = "the lake lays out and matches rows by it: it takes a new table"
            breaks.append(LakeBreak(None, key, _plain(before), _plain(after), reason))
    for c in changes:
        if c.what == "type":
            breaks.append(LakeBreak(c.field, "type", c.old, c.new, "the lake table keeps a column's type"))
        elif c.what == "removed" and new.removed_columns is RemovedColumns.REFUSE:
            breaks.append(LakeBreak(c.field, "removed", c.old, None, "the contract says removed_columns: refuse"))
    return breaks


def _layout(contract: Contract, key: str) -> object:
    """What of ``key`` lays out the lake: a partition's retention (a policy, not a layout) is left out."""
    value = getattr(contract, key)
    return value.model_copy(update={"retention": None}) if key == "partition" else value


def _plain(value: object) -> object:
    dump = getattr(value, "model_dump", None)
    if dump is not None:
        return ", ".join(f"{k}={v}" for k, v in dump(mode="json").items())
    return getattr(value, "value", value)


def _other_changes(old: Contract, new: Contract) -> list[str]:
    before, after = old.model_dump(mode="json"), new.model_dump(mode="json")
    names = [k for k in after if k not in _SCHEMA_KEYS and before.get(k) != after.get(k)]
    if before["partition"].get("retention") != after["partition"].get("retention"):
        names.append("partition.retention")
    old_columns = {c["name"]: c for c in before["columns"]}
    for column in after["columns"]:
        was = old_columns.get(column["name"])
        if was is not None:
            names += [
                f"{column['name']}.{k}" for k in column if k not in _COLUMN_SCHEMA_KEYS and was.get(k) != column.get(k)
            ]
    return names


def diff_contracts(old: Contract, new: Contract, history: Sequence[Contract] = ()) -> ContractDiff:
    """Judge ``new`` against ``old`` (its previous version) by ``new``'s declared compatibility.

    ``history``: the versions before ``old``, oldest first, for the transitive levels.
    """
    verdict = judge(contract_fields(old), contract_fields(new))
    previous = [*history, old]
    breaches = breaking_changes(contract_fields(new), [contract_fields(c) for c in previous], new.compatibility)
    return ContractDiff(
        name=new.name,
        old_version=old.version,
        new_version=new.version,
        declared=new.compatibility,
        level=verdict.level,
        changes=verdict.changes,
        lake=tuple(_lake_breaks(old, new, verdict.changes)),
        breaches=tuple(Breach(previous[i].version, c) for i, c in breaches),
        other=tuple(_other_changes(old, new)),
    )
