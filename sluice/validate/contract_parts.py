"""The parts of a dataset contract besides its columns: how the lake keeps rows, the partition and its
retention, the CSV dialect and nested naming (:mod:`sluice.validate.contracts` assembles them)."""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sluice.validate.columns import ColumnType

DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
GLOSSARY_FILE = "glossary.yaml"  # the business glossary beside the contracts (sluice.governance.glossary)


class ApplyMode(StrEnum):
    """How the lake keeps a dataset's rows (:mod:`sluice.lake.apply`)."""

    APPEND = "append"  # events: the first occurrence of a key wins, later ones are duplicates
    UPSERT = "upsert"  # the latest version of each key by ``order_by``
    SCD2 = "scd2"  # every version of each key, with valid_from, valid_to and is_current


class DeleteMode(StrEnum):
    HARD = "hard"  # a delete removes the key's row
    TOMBSTONE = "tombstone"  # a delete replaces the key's row with the delete row itself


# A row whose ``_op`` column holds ``d`` deletes its key (upsert and scd2 tables).
# A contract that takes deletes declares ``_op`` as a string column; CDC sources
# fill it with ``i``, ``u`` or ``d``.
OP_COLUMN = "_op"
DELETE_OP = "d"
SCD2_COLUMNS = ("valid_from", "valid_to", "is_current")
ORDER_TYPES = (ColumnType.TIMESTAMP, ColumnType.DATE, ColumnType.INT64)


class RemovedColumns(StrEnum):
    """What removing a column from the contract does (:mod:`sluice.validate.evolution`)."""

    KEEP = "keep"  # the lake table keeps the column: older rows keep their values, newer ones hold null
    REFUSE = "refuse"  # a contract change that removes (or renames) a column fails `ops contract check`


class PartitionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str
    granularity: Literal["day"] = "day"
    # Rows whose partition date is older than this are deleted by the lake-maintenance flow
    # (sluice.retention.policies); None keeps them. Whole days: 400d, 8w.
    retention: timedelta | None = None

    @field_validator("retention", mode="before")
    @classmethod
    def _parse_retention(cls, value: object) -> object:
        if isinstance(value, str) and not value.startswith("P"):
            match = DURATION.match(value)
            if not match or match.group(2) not in "dw":
                raise ValueError(f"retention {value!r} must be whole days or weeks, like 400d or 8w")
            return timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
        return value

    @field_validator("retention")
    @classmethod
    def _whole_days(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and (value < timedelta(days=1) or value % timedelta(days=1)):
            raise ValueError(f"retention must be a whole number of days, at least 1d, got {value}")
        return value


class CsvDialect(BaseModel):
    """How a CSV source splits fields: the ``csv:`` block of a contract (defaults: RFC 4180)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    delimiter: str = ","
    quote_char: str | None = '"'  # None: fields are never quoted
    escape_char: str | None = None  # None: no escaping beyond doubled quotes
    double_quote: bool = True  # a doubled quote character inside a quoted field is one quote
    newlines_in_values: bool = False  # quoted fields may hold line breaks (parsing is slower)

    @model_validator(mode="after")
    def _single_characters(self) -> CsvDialect:
        chars = {"delimiter": self.delimiter, "quote_char": self.quote_char, "escape_char": self.escape_char}
        for name, char in chars.items():
            if char is not None and (len(char) != 1 or char in "\r\n"):
                raise ValueError(f"csv.{name} must be one character other than a line break, got {char!r}")
        given = [c for c in chars.values() if c is not None]
        if len(set(given)) != len(given):
            raise ValueError("csv.delimiter, csv.quote_char and csv.escape_char must differ")
        return self


class NestedSpec(BaseModel):
    """How nested source records map onto columns: the ``nested:`` block of a contract."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    separator: str = Field(default="_", min_length=1)  # joins a struct's keys into a column name


class VerifySpec(BaseModel):
    """Checks of each commit of an ingestion run: the ``verify:`` block of a contract.

    A check that fails rolls the commit back (:mod:`sluice.lake.rollback`) and fails the run
    (ingest-files, ingest-table); capture-changes and ingest-stream refuse the block
    (:func:`sluice.lake.verify.ensure_verifiable`).
    Every check is off by default. The contract check cannot raise a false alarm (rows that break
    their own contract's critical rules are never right), but it reads every committed row a
    second time in the flow's process; a dataset turns it on where that is worth it. The anomaly checks:
    a genuine backfill or a real change in volume would be rolled back, and they need
    ``min_runs`` earlier runs of history to judge by; a dataset opts in once its volume is steady.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    contract: bool = False  # re-read the committed rows and validate them against this contract
    row_count: bool = False  # rows written far outside the baseline of earlier runs (ops.baselines detector)
    quarantine_spike: bool = False  # quarantined share far above the usual share of earlier runs
    min_runs: int = Field(default=10, ge=3)  # earlier runs an anomaly check needs before it judges
    max_score: float = Field(default=0.95, gt=0.5, lt=1.0)  # anomaly score at or above which rows written fail
    quarantine_factor: float = Field(default=5.0, gt=1.0)  # a spike: this many times the usual share...
    quarantine_floor: float = Field(default=0.05, gt=0.0, lt=1.0)  # ...and at least this share above it

    @property
    def checks_on(self) -> list[str]:
        """The checks this block turns on, as the contract names them."""
        return [name for name in ("contract", "row_count", "quarantine_spike") if getattr(self, name)]


class MaintenanceSpec(BaseModel):
    """How the lake-maintenance flow lays out a dataset's files (:mod:`sluice.lake.maintain`).

    ``zorder`` names columns whose rows are clustered together across a date's
    files, so a query filtering on them skips files by their min/max;
    ``target_file_mb`` overrides ``SLUICE_MAINTAIN_TARGET_FILE_MB``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    zorder: list[str] = Field(default_factory=list)
    target_file_mb: int | None = Field(default=None, ge=1)
