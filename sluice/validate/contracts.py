"""Dataset contracts: YAML files loaded into pydantic models.

A contract declares a dataset's columns (type, nullability, criticality, allowed
values, ranges, patterns, PII), its primary key, its partition column and its
freshness SLA and owner. Critical columns quarantine a row that breaks them;
warning columns only count the breach.

The partition date must be a function of the primary key (an order's creation
time never changes), which is what lets deduplication prune by partition.
"""

from __future__ import annotations

import codecs
import difflib
from datetime import timedelta
from pathlib import Path

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from sluice.errors import ContractError, SluiceError
from sluice.governance.classes import Protection
from sluice.paths import (
    DATASET_NAME_HINT,
    child_path,
    dataset_name_problem,
    ensure_dataset_name,
)
from sluice.validate.columns import NESTED_PATH_SEPARATOR, ColumnSpec, ColumnType, Criticality
from sluice.validate.compat import Compatibility
from sluice.validate.completeness import CompletenessSpec
from sluice.validate.consumers import Consumers
from sluice.validate.contract_parts import (
    DELETE_OP,
    DURATION,
    GLOSSARY_FILE,
    OP_COLUMN,
    ORDER_TYPES,
    SCD2_COLUMNS,
    UNITS,
    ApplyMode,
    CsvDialect,
    DeleteMode,
    MaintenanceSpec,
    NestedSpec,
    PartitionSpec,
    RemovedColumns,
    VerifySpec,
)
from sluice.validate.explode import ExplodeSpec, explode_problems, with_children
from sluice.validate.references import Reference, reference_problems

__all__ = [
    "DELETE_OP",
    "GLOSSARY_FILE",
    "NESTED_PATH_SEPARATOR",
    "OP_COLUMN",
    "SCD2_COLUMNS",
    "ApplyMode",
    "ColumnSpec",
    "ColumnType",
    "Contract",
    "Criticality",
    "CsvDialect",
    "DeleteMode",
    "MaintenanceSpec",
    "NestedSpec",
    "PartitionSpec",
    "RemovedColumns",
    "VerifySpec",
    "available_contracts",
    "find_contract",
    "load_contract",
    "parse_contract",
]


class Contract(BaseModel):
    """A dataset contract."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    # The contract's version: `ops contract check` wants it raised with every schema change,
    # which is then judged by the declared compatibility level.
    version: int = Field(default=1, ge=1)
    compatibility: Compatibility = Compatibility.BACKWARD
    removed_columns: RemovedColumns = RemovedColumns.KEEP
    description: str = ""
    # Why the data is processed, in the words of its owner (a DPIA's starting point: `ops dpia draft`).
    purposes: list[str] = Field(default_factory=list)
    owner: str
    freshness_sla: timedelta
    source_timezone: str = "UTC"
    primary_key: list[str] = Field(min_length=1)
    partition: PartitionSpec
    columns: list[ColumnSpec] = Field(min_length=1)
    tags: list[str] = Field(default_factory=list)
    # The sources' character encoding; None: detected per file. A run's
    # ``encoding`` parameter overrides it.
    encoding: str | None = None
    csv: CsvDialect = Field(default_factory=CsvDialect)
    nested: NestedSpec = Field(default_factory=NestedSpec)
    # How the lake keeps the rows; upsert and scd2 order a key's versions by ``order_by``.
    mode: ApplyMode = ApplyMode.APPEND
    order_by: str | None = None
    deletes: DeleteMode = DeleteMode.HARD
    # Datasets fed by this one that Sluice cannot see in its run records (built outside it, or from a copy):
    # `ops lineage impact` lists them, and what they feed, as downstream.
    downstream: list[str] = Field(default_factory=list)
    # Arrays whose elements land in child datasets, by the array's key (sluice.validate.explode).
    explode: dict[str, ExplodeSpec] = Field(default_factory=dict)
    # Checks of each commit; one that fails rolls the commit back (sluice.lake.rollback).
    verify: VerifySpec = Field(default_factory=VerifySpec)
    # File layout kept by the lake-maintenance flow: Z-order columns, target file size (sluice.lake.maintain).
    maintenance: MaintenanceSpec = Field(default_factory=MaintenanceSpec)
    # Who reads the dataset, with the freshness and accuracy each needs (sluice.validate.consumers, ops sla report).
    consumers: Consumers = Field(default_factory=list)
    # Control totals of the source compared with what a run read (sluice.validate.completeness).
    completeness: CompletenessSpec = Field(default_factory=CompletenessSpec)
    # Foreign keys checked against the parent datasets' lake tables (sluice.validate.references).
    references: list[Reference] = Field(default_factory=list)

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                codecs.lookup(value)
            except LookupError:
                raise ValueError(
                    f"unknown encoding {value!r} (use a Python codec name such as utf-8, cp1252 or utf-16)"
                ) from None
        return value

    @field_validator("compatibility", mode="before")
    @classmethod
    def _level_in_any_case(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("name")
    @classmethod
    def _name_is_a_dataset_name(cls, value: str) -> str:
        problem = dataset_name_problem(value)
        if problem is not None:
            raise ValueError(f"{problem}; {DATASET_NAME_HINT}")
        return value

    @field_validator("downstream")
    @classmethod
    def _downstream_are_dataset_names(cls, value: list[str]) -> list[str]:
        for name in value:
            problem = dataset_name_problem(name)
            if problem is not None:
                raise ValueError(f"downstream {name!r}: {problem}; {DATASET_NAME_HINT}")
        return value

    @field_validator("freshness_sla", mode="before")
    @classmethod
    def _parse_duration(cls, value: object) -> object:
        if isinstance(value, str) and not value.startswith("P"):
            match = DURATION.match(value)
            if not match:
                raise ValueError(f"freshness_sla {value!r} must look like 30m, 6h, 1d or 2w")
            return timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
        return value

    @model_validator(mode="after")
    def _keys_exist(self) -> Contract:
        names = [c.name for c in self.columns]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"columns declared twice: {', '.join(dupes)}")
        for key in self.primary_key:
            col = self._find(key, "primary_key")
            if col.type is ColumnType.LIST:
                raise ValueError(f"primary key column {key!r} must be a scalar, not a list")
            if col.nullable or not col.critical:
                raise ValueError(f"primary key column {key!r} must be critical and not nullable")
        part = self._find(self.partition.column, "partition.column")
        if part.type not in (ColumnType.TIMESTAMP, ColumnType.DATE) or part.nullable or not part.critical:
            raise ValueError(f"partition column {part.name!r} must be a critical, non-nullable timestamp or date")
        self._mode_fits()
        for name in self.maintenance.zorder:
            self._find(name, "maintenance.zorder")
        if self.completeness.sum is not None and self._find(self.completeness.sum, "completeness.sum").type not in (
            ColumnType.INT64,
            ColumnType.FLOAT64,
        ):
            raise ValueError(f"completeness.sum column {self.completeness.sum!r} must be int64 or float64")
        if problems := explode_problems(self) + reference_problems(self):
            raise ValueError("; ".join(problems))
        self._protected_columns_are_values()
        return self

    def _protected_columns_are_values(self) -> None:
        """A protected column holds values only: keys, partitions and version order need the clear text."""
        roles = {"primary_key": self.primary_key, "partition.column": [self.partition.column]}
        if self.order_by is not None:
            roles["order_by"] = [self.order_by]
        for role, names in roles.items():
            for name in names:
                col = self._find(name, role)
                if col.protect is not None:
                    raise ValueError(f"{role} column {name!r} cannot be protected (protect: {col.protect.value})")

    def _mode_fits(self) -> None:
        if self.mode is ApplyMode.APPEND:
            if self.order_by is not None:
                raise ValueError("order_by applies to mode upsert or scd2, not append")
            return
        if self.order_by is None:
            raise ValueError(f"mode {self.mode.value} needs order_by: the column that orders a key's versions")
        order = self._find(self.order_by, "order_by")
        if order.type not in ORDER_TYPES or order.nullable or not order.critical:
            raise ValueError(
                f"order_by column {order.name!r} must be a critical, non-nullable timestamp, date or int64"
            )
        if OP_COLUMN in self.column_names and self.column(OP_COLUMN).type != ColumnType.STRING:
            raise ValueError(f"the delete marker column {OP_COLUMN!r} must be a string column")
        if self.mode is ApplyMode.SCD2 and (taken := sorted(set(SCD2_COLUMNS) & set(self.column_names))):
            raise ValueError(f"mode scd2 adds the columns {', '.join(SCD2_COLUMNS)}; rename {', '.join(taken)}")

    @property
    def keyed(self) -> bool:
        """Whether the lake applies changes by key (upsert, scd2) rather than appending."""
        return self.mode is not ApplyMode.APPEND

    @property
    def has_deletes(self) -> bool:
        return OP_COLUMN in self.column_names

    def _find(self, name: str, where: str) -> ColumnSpec:
        for col in self.columns:
            if col.name == name:
                return col
        close = difflib.get_close_matches(name, [c.name for c in self.columns], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"{where} names unknown column {name!r}{hint}")

    def column(self, name: str) -> ColumnSpec:
        return self._find(name, "column")

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def pii_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.pii]

    @property
    def protected_columns(self) -> dict[str, Protection]:
        """The columns ingestion tokenises or encrypts, with how."""
        return {c.name: c.protect for c in self.columns if c.protect is not None}


ExplodeSpec.model_rebuild(_types_namespace={"Contract": Contract})

_KNOWN_FIELDS = {
    "contract": set(Contract.model_fields),
    "column": set(ColumnSpec.model_fields),
    "partition": set(PartitionSpec.model_fields),
    "csv": set(CsvDialect.model_fields),
    "nested": set(NestedSpec.model_fields),
    "explode": set(ExplodeSpec.model_fields),
    "references": set(Reference.model_fields),
}


def _describe(error: ValidationError, raw: dict[str, object]) -> str:
    lines = []
    for err in error.errors():
        loc = err["loc"]
        where = _location(loc, raw)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            field = str(loc[-1])
            kind = next(
                (
                    k
                    for k, section in (
                        ("column", "columns"),
                        ("partition", "partition"),
                        ("csv", "csv"),
                        ("nested", "nested"),
                        ("explode", "explode"),
                        ("references", "references"),
                    )
                    if section in loc
                ),
                "contract",
            )
            close = difflib.get_close_matches(field, _KNOWN_FIELDS[kind], n=1)
            msg = f"unknown field {field!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
            where = _location(loc[:-1], raw)
        lines.append(f"  - {where}: {msg}")
    return "\n".join(lines)


_UNION_TAGS = ("name", "inline")


def _location(loc: tuple[object, ...], raw: dict[str, object]) -> str:
    parts: list[str] = []
    node: object = raw
    for step in loc:
        if step in _UNION_TAGS and isinstance(node, dict) and step not in node:
            continue  # which form of a field pydantic tried (explode's contract: a name or inline), not a key
        if isinstance(step, int) and isinstance(node, list) and step < len(node):
            node = node[step]
            name = node.get("name") if isinstance(node, dict) else None
            parts.append(f"[{name or step}]")
        else:
            node = node.get(step) if isinstance(node, dict) else None
            parts.append(f".{step}")
    return "".join(parts).lstrip(".") or "(top level)"


def parse_contract(text: str, *, origin: str = "<string>") -> Contract:
    """Parse contract YAML text.

    Raises:
        ContractError: the YAML is malformed or breaks the contract rules; the
            message lists every problem with its location.
    """
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ContractError(f"contract {origin} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ContractError(f"contract {origin} must be a YAML mapping, got {type(raw).__name__}")
    try:
        return Contract.model_validate(raw)
    except ValidationError as exc:
        raise ContractError(
            f"contract {origin} is invalid:\n{_describe(exc, raw)}",
            hint="fix the fields above; docs/contracts.md lists every field",
        ) from None


def load_contract(path: Path) -> Contract:
    """Load one contract file; its ``name:`` must equal the file's name without ``.yaml``.

    Raises:
        ContractError: the file is missing or invalid, or names another dataset.
    """
    if not path.is_file():
        raise ContractError(f"contract file {path} does not exist")
    contract = parse_contract(path.read_text(encoding="utf-8"), origin=str(path))
    if contract.name != path.stem:
        raise ContractError(
            f"contract {path} declares name {contract.name!r}, but its file is named for {path.stem!r}",
            hint=f"a contract's name is its file name: rename the file to {contract.name}.yaml "
            f"or set `name: {path.stem}`",
        )
    return with_children(contract, lambda name: find_contract(name, path.parent), origin=str(path))


def available_contracts(root: Path) -> list[str]:
    """Names of the contract files in ``root`` (including any whose name is not a valid dataset name).

    The glossary (:data:`GLOSSARY_FILE`) shares the folder and is no contract.
    """
    return sorted(p.stem for p in root.glob("*.yaml") if p.name != GLOSSARY_FILE)


def find_contract(name: str, root: Path) -> Contract:
    """Load the contract named ``name`` from ``root``; the name is checked before any file is touched.

    Raises:
        ContractError: an invalid dataset name, a path that leaves ``root``,
            or no such contract (the message lists those that exist).
    """
    ensure_dataset_name(name, error=ContractError)
    try:
        path = child_path(root, f"{name}.yaml")
    except SluiceError as exc:
        raise ContractError(f"contract {name!r} is not inside {root}: {exc.args[0]}", hint=exc.hint) from None
    if not path.is_file():
        known = available_contracts(root)
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ContractError(
            f"no contract named {name!r} in {root}",
            hint=f"{hint}known contracts: {', '.join(known) or 'none'}",
        )
    return load_contract(path)
