"""A contract's columns: their types, criticality, checks, PII class and where nested values sit."""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sluice.governance.classes import PiiClass, Protection

_BOOL_WORDS = {"true", "false", "yes", "no", "on", "off", "y", "n", "t", "f", "1", "0"}  # what pydantic takes as bool


class ColumnType(StrEnum):
    STRING = "string"
    INT64 = "int64"
    FLOAT64 = "float64"
    BOOL = "bool"
    TIMESTAMP = "timestamp"
    DATE = "date"
    LIST = "list"  # a JSON array or a typed list, its items of the column's ``items`` type


NESTED_PATH_SEPARATOR = "."  # between the keys of a column's ``path``


class Criticality(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"


class ColumnSpec(BaseModel):
    """One column of a dataset contract."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    type: ColumnType
    nullable: bool = False
    criticality: Criticality = Criticality.CRITICAL
    description: str = ""
    allowed_values: list[str] | None = None
    min: float | None = None
    max: float | None = None
    pattern: str | None = None
    max_length: int | None = None
    # true, or the class of personal data (email, phone, person_name...; sluice.governance.classes).
    pii: bool | PiiClass = False
    # How ingestion protects the values of a pii column: token or encrypt; None keeps them in the clear.
    protect: Protection | None = None
    term: str | None = None  # the glossary term (sluice/contracts/glossary.yaml) the column holds
    formats: list[str] = Field(default_factory=lambda: ["ISO8601"])
    timezone: str | None = None
    # Where the value sits in a nested source record, keys joined by dots
    # (``address.city``); None: see :meth:`source_paths`.
    path: str | None = None
    items: ColumnType | None = None  # the type of a list column's items

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"pattern {value!r} is not a valid regular expression: {exc}") from exc
        return value

    @field_validator("pii", mode="before")
    @classmethod
    def _pii_tag(cls, value: object) -> object:
        if isinstance(value, str) and value not in set(PiiClass) and value.lower() not in _BOOL_WORDS:
            raise ValueError(f"pii {value!r} must be true, false or a class: {', '.join(PiiClass)}")
        return value

    @field_validator("path")
    @classmethod
    def _path_has_keys(cls, value: str | None) -> str | None:
        if value is not None and not all(value.split(NESTED_PATH_SEPARATOR)):
            raise ValueError(f"path {value!r} must be keys joined by dots, such as address.city")
        return value

    @model_validator(mode="after")
    def _list_has_items(self) -> ColumnSpec:
        if self.type is ColumnType.LIST:
            if self.items is None or self.items is ColumnType.LIST:
                raise ValueError("a list column needs items: string, int64, float64, bool, timestamp or date")
            if self.allowed_values is not None:
                raise ValueError("allowed_values applies to scalar columns, not lists")
        elif self.items is not None:
            raise ValueError(f"items applies to list columns, not {self.type.value}")
        return self

    @model_validator(mode="after")
    def _protect_fits(self) -> ColumnSpec:
        if self.protect is None:
            return self
        if self.pii is False:
            raise ValueError(f"protect: {self.protect.value} applies to pii columns; tag the column with pii: first")
        if self.type is not ColumnType.STRING:
            raise ValueError(f"protect applies to string columns, not {self.type.value}")
        return self

    @model_validator(mode="after")
    def _checks_fit_type(self) -> ColumnSpec:
        numeric = {ColumnType.INT64, ColumnType.FLOAT64}
        if (self.min is not None or self.max is not None) and self.type not in numeric:
            raise ValueError(f"min/max apply to numeric columns, not {self.type.value}")
        if (self.pattern or self.max_length) and self.type != ColumnType.STRING:
            raise ValueError(f"pattern/max_length apply to string columns, not {self.type.value}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self

    @property
    def critical(self) -> bool:
        return self.criticality == Criticality.CRITICAL

    def source_paths(self, separator: str = "_") -> list[tuple[str, ...]]:
        """Where the column's value may sit in a nested record, in the order tried.

        ``path`` when given; else the name as a top-level key and then, for a
        name holding ``separator``, the path its parts spell
        (``address_city``: ``address.city``).
        """
        if self.path is not None:
            return [tuple(self.path.split(NESTED_PATH_SEPARATOR))]
        paths: list[tuple[str, ...]] = [(self.name,)]
        parts = tuple(self.name.split(separator))
        if len(parts) > 1 and all(parts):
            paths.append(parts)
        return paths
