"""Which source column types map to which contract types, checked before a single row is read.

A column maps only where no value can change on the way: integers to
``int64``, ``numeric(p,s)`` to ``int64`` (scale 0, up to 18 digits) or
``float64`` (up to 15 digits) or ``string`` (exact text), ``timestamptz`` to
``timestamp``. A naive ``timestamp`` (MariaDB ``datetime``) maps only when the
contract column declares the ``timezone`` its values are in: nothing is
assumed. Arrays, ``jsonb``, ``bytea``, ``interval``, enums, ranges and the
like have no mapping: select them as text in a query and declare ``string``,
or leave them out of the contract.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from sluice.sources.database import UnmappedColumnError
from sluice.validate.contracts import ColumnSpec, ColumnType, Contract


class Kind(StrEnum):
    INTEGER = "integer"
    BOOLEAN_INT = "tinyint(1)"  # MariaDB's boolean
    FLOAT = "float"
    DECIMAL = "decimal"
    TEXT = "text"
    BOOLEAN = "boolean"
    DATE = "date"
    TIMESTAMP_TZ = "timestamptz"
    TIMESTAMP_NAIVE = "timestamp"
    UNMAPPED = "unmapped"


@dataclass(frozen=True)
class SourceColumn:
    """A column as the database declares it: ``type_text`` is its own spelling (``numeric(50,10)``)."""

    name: str
    type_text: str
    kind: Kind
    precision: int | None = None
    scale: int | None = None


_PG_KINDS = {
    "smallint": Kind.INTEGER,
    "integer": Kind.INTEGER,
    "bigint": Kind.INTEGER,
    "real": Kind.FLOAT,
    "double precision": Kind.FLOAT,
    "numeric": Kind.DECIMAL,
    "text": Kind.TEXT,
    "character varying": Kind.TEXT,
    "character": Kind.TEXT,
    "name": Kind.TEXT,
    "citext": Kind.TEXT,
    "boolean": Kind.BOOLEAN,
    "date": Kind.DATE,
    "timestamp with time zone": Kind.TIMESTAMP_TZ,
    "timestamp without time zone": Kind.TIMESTAMP_NAIVE,
}
_MARIADB_KINDS = {
    "tinyint": Kind.INTEGER,
    "smallint": Kind.INTEGER,
    "mediumint": Kind.INTEGER,
    "int": Kind.INTEGER,
    "bigint": Kind.INTEGER,
    "float": Kind.FLOAT,
    "double": Kind.FLOAT,
    "decimal": Kind.DECIMAL,
    "char": Kind.TEXT,
    "varchar": Kind.TEXT,
    "tinytext": Kind.TEXT,
    "text": Kind.TEXT,
    "mediumtext": Kind.TEXT,
    "longtext": Kind.TEXT,
    "date": Kind.DATE,
    "datetime": Kind.TIMESTAMP_NAIVE,
    "timestamp": Kind.TIMESTAMP_TZ,  # stored in UTC; read with the session's time zone at +00:00
}
_PRECISION = re.compile(r"\((\d+)(?:,(\d+))?\)")


def pg_column(name: str, type_text: str, typtype: str, category: str) -> SourceColumn:
    """A PostgreSQL column from ``format_type`` and ``pg_type``'s ``typtype``/``typcategory``."""
    base = _PRECISION.sub("", type_text).strip()
    kind = Kind.UNMAPPED if typtype in ("e", "r", "m", "c", "d") or category == "A" else _PG_KINDS.get(base)
    precision = scale = None
    if kind is Kind.DECIMAL:
        found = _PRECISION.search(type_text)
        if found:
            precision, scale = int(found.group(1)), int(found.group(2) or 0)
    return SourceColumn(name, type_text, kind or Kind.UNMAPPED, precision, scale)


def mariadb_column(name: str, data_type: str, column_type: str) -> SourceColumn:
    """A MariaDB column from ``information_schema.columns`` (``DATA_TYPE``, ``COLUMN_TYPE``)."""
    column_type = column_type.lower()
    kind = _MARIADB_KINDS.get(data_type.lower(), Kind.UNMAPPED)
    if kind is Kind.INTEGER and "unsigned" in column_type and data_type.lower() == "bigint":
        kind = Kind.UNMAPPED  # beyond int64
    if column_type.startswith("tinyint(1)"):
        kind = Kind.BOOLEAN_INT
    precision = scale = None
    if kind is Kind.DECIMAL and (found := _PRECISION.search(column_type)):
        precision, scale = int(found.group(1)), int(found.group(2) or 0)
    return SourceColumn(name, column_type, kind, precision, scale)


def _decimal_fits(col: SourceColumn, target: ColumnType) -> bool:
    if target is ColumnType.STRING:
        return True
    if col.precision is None:
        return False  # unbounded numeric: any number of digits
    if target is ColumnType.INT64:
        return col.scale == 0 and col.precision <= 18
    return target is ColumnType.FLOAT64 and col.precision <= 15


_ALLOWED: dict[Kind, set[ColumnType]] = {
    Kind.INTEGER: {ColumnType.INT64, ColumnType.FLOAT64, ColumnType.STRING},
    Kind.BOOLEAN_INT: {ColumnType.BOOL, ColumnType.INT64},
    Kind.FLOAT: {ColumnType.FLOAT64},
    Kind.TEXT: {ColumnType.STRING},
    Kind.BOOLEAN: {ColumnType.BOOL},
    Kind.DATE: {ColumnType.DATE},
    Kind.TIMESTAMP_TZ: {ColumnType.TIMESTAMP},
    Kind.TIMESTAMP_NAIVE: {ColumnType.TIMESTAMP},
    Kind.UNMAPPED: set(),
}


def _problem(col: SourceColumn, spec: ColumnSpec) -> str | None:
    """What to do about a column that does not map, or None."""
    target = spec.type
    if col.kind is Kind.DECIMAL:
        if _decimal_fits(col, target):
            return None
        return (
            f"select it as text in a query ({col.name}::text AS {col.name}) and declare it string, or cast it "
            "to float8 if 15 significant digits are enough"
        )
    if col.kind is Kind.TIMESTAMP_NAIVE and target is ColumnType.TIMESTAMP and spec.timezone is None:
        return (
            f"it has no time zone: declare `timezone:` (the zone its values are in) on column {col.name} "
            "in the contract, or store it as timestamptz"
        )
    if target in _ALLOWED[col.kind]:
        return None
    if col.kind is Kind.UNMAPPED:
        return (
            f"select it as text in a query ({col.name}::text AS {col.name}) and declare it string, "
            "or leave it out of the contract"
        )
    return f"declare it as one of {', '.join(sorted(t.value for t in _ALLOWED[col.kind]))} in the contract"


def check_mapping(contract: Contract, columns: list[SourceColumn], what: str) -> dict[str, SourceColumn]:
    """The source column of every contract column, or an error naming the first that does not map.

    Raises:
        UnmappedColumnError: a contract column missing from the source, or of a type with no mapping.
    """
    by_name = {c.name: c for c in columns}
    for spec in contract.columns:
        col = by_name.get(spec.name)
        if col is None:
            raise UnmappedColumnError(
                f"{contract.name}: column {spec.name} of the contract is not in {what}",
                hint="add it to the source (or the query), or remove it from the contract",
            )
        todo = _problem(col, spec)
        if todo is not None:
            raise UnmappedColumnError(
                f"{contract.name}: column {spec.name} is {col.type_text} in {what}, which does not map to "
                f"{spec.type.value}",
                hint=todo,
            )
    return {spec.name: by_name[spec.name] for spec in contract.columns}
