"""Referential integrity: the ``references:`` block of a contract, and the orphan check.

A reference names the child's column(s) and the parent dataset's column(s)
they point at, and what happens to a row whose key the parent's lake table
does not hold (an orphan)::

    references:
      - columns: [customer_id]
        to: customers.customer_id      # DATASET.COLUMN[,COLUMN...]
        policy: hold                   # quarantine | warn | hold
        hold_timeout: 24h              # hold only: how long a row waits for its parent

``quarantine``: the row is quarantined as ``orphan_reference``. ``warn``: the
row lands and the breach is counted as the warning ``COLUMN:orphan_reference``.
``hold``: the row waits in the hold store (:mod:`sluice.lake.held`) and lands
when its parent does, or is quarantined as ``orphan_reference`` once
``hold_timeout`` has passed.

A row with a null in a reference column is no orphan (a nullable foreign key).
The check runs on whole Arrow columns against the parent's key set, never row
by row: a :class:`sluice.validate.keyset.KeySet` whose lookup is built once per
parent table version and probed by every chunk, or, for key types it does not
pack, one hash lookup (``pyarrow.compute.is_in``) for a one-column key and a
hash anti-join for a compound one.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sluice.paths import DATASET_NAME_HINT, dataset_name_problem
from sluice.validate.contract_parts import DURATION, UNITS
from sluice.validate.keyset import KeySet

if TYPE_CHECKING:
    from sluice.validate.contracts import Contract

ORPHAN_CHECK = "references"
# The referenced datasets' distinct keys, by the reference's ``to``; None: the parent has no table yet.
# A plain table of distinct keys is made a KeySet on each check: pass KeySets to check many chunks.
ParentKeys = dict[str, "KeySet | pa.Table | None"]
_POSITION = "__sluice_position"


class ReferencePolicy(StrEnum):
    QUARANTINE = "quarantine"
    WARN = "warn"
    HOLD = "hold"


class Reference(BaseModel):
    """One foreign key: child columns pointing at a parent dataset's columns."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    columns: list[str] = Field(min_length=1)
    to: str
    policy: ReferencePolicy = ReferencePolicy.QUARANTINE
    hold_timeout: timedelta = timedelta(hours=24)

    @field_validator("to")
    @classmethod
    def _target(cls, value: str) -> str:
        dataset, dot, cols = value.partition(".")
        if not dot or not cols or any(not c.strip() for c in cols.split(",")):
            raise ValueError(f"references to {value!r} must look like DATASET.COLUMN (or DATASET.COL1,COL2)")
        problem = dataset_name_problem(dataset)
        if problem is not None:
            raise ValueError(f"references to {value!r}: {problem}; {DATASET_NAME_HINT}")
        return value

    @field_validator("hold_timeout", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        if isinstance(value, str) and not value.startswith("P"):
            match = DURATION.match(value)
            if not match:
                raise ValueError(f"hold_timeout {value!r} must look like 30s, 30m, 6h, 1d or 2w")
            try:
                return timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
            except OverflowError:
                raise ValueError(f"hold_timeout {value!r} is too long") from None
        return value

    @model_validator(mode="after")
    def _shape(self) -> Reference:
        if len(self.parent_columns) != len(self.columns):
            raise ValueError(
                f"references to {self.to!r} names {len(self.parent_columns)} parent column(s) "
                f"for {len(self.columns)} column(s)"
            )
        if len(set(self.columns)) != len(self.columns):
            raise ValueError(f"references to {self.to!r} names a column twice")
        if self.hold_timeout <= timedelta(0):
            raise ValueError("hold_timeout must be positive")
        return self

    @property
    def dataset(self) -> str:
        return self.to.partition(".")[0]

    @property
    def parent_columns(self) -> list[str]:
        return [c.strip() for c in self.to.partition(".")[2].split(",")]

    @property
    def label(self) -> str:
        """How counts and warnings name the reference: its first column."""
        return self.columns[0]


def reference_problems(contract: Contract) -> list[str]:
    """What is wrong with a contract's references: unknown or protected columns."""
    problems = []
    known = {c.name: c for c in contract.columns}
    for ref in contract.references:
        for name in ref.columns:
            col = known.get(name)
            if col is None:
                problems.append(f"references names unknown column {name!r}")
            elif col.protect is not None:
                problems.append(f"reference column {name!r} cannot be protected: the check needs its clear value")
    return problems


def holds(contract: Contract) -> bool:
    """Whether any of the contract's references holds orphans for late arrival."""
    return any(r.policy is ReferencePolicy.HOLD for r in contract.references)


def distinct_keys(table: pa.Table, columns: list[str]) -> pa.Table:
    """The distinct non-null keys of ``table`` over ``columns``, named ``columns``."""
    keys = table.select(columns)
    for name in columns:
        keys = keys.filter(pc.is_valid(keys.column(name)))
    if len(columns) == 1:
        return pa.table({columns[0]: pc.unique(keys.column(0).combine_chunks())})
    return keys.group_by(columns).aggregate([])


def orphan_mask(table: pa.Table, ref: Reference, parent_keys: KeySet | pa.Table | None) -> np.ndarray:
    """Per row of ``table``: whether its key is non-null and absent from ``parent_keys``.

    ``parent_keys`` holds the parent's distinct keys in ``ref.parent_columns``
    (a :class:`KeySet`, or a table made one here); ``None`` (no parent table
    yet) makes every non-null key an orphan.
    """
    n = table.num_rows
    present = np.ones(n, dtype=bool)
    for name in ref.columns:
        present &= table.column(name).is_valid().to_numpy(zero_copy_only=False)
    if parent_keys is None or parent_keys.num_rows == 0 or n == 0:
        return present
    keys = parent_keys if isinstance(parent_keys, KeySet) else KeySet(parent_keys)
    missing = keys.missing(table, ref.columns)
    if missing is not None:
        packed: np.ndarray = present & missing
        return packed
    if len(ref.columns) == 1:
        column = table.column(ref.columns[0])
        values = keys.table.column(0)
        if values.type != column.type:
            values = values.cast(column.type)
        found = pc.is_in(column, value_set=values.combine_chunks()).to_numpy(zero_copy_only=False)
        result: np.ndarray = present & ~found
        return result
    compound: np.ndarray = present & _anti_join(table, ref, keys.table)
    return compound


def _anti_join(table: pa.Table, ref: Reference, parent_keys: pa.Table) -> np.ndarray:
    """Per row: whether its compound key is missing from ``parent_keys`` (a hash anti-join)."""
    child = table.select(ref.columns).append_column(_POSITION, pa.array(np.arange(table.num_rows)))
    parent = parent_keys.rename_columns(ref.columns)
    for name in ref.columns:
        if parent.column(name).type != child.column(name).type:
            parent = parent.set_column(
                parent.schema.get_field_index(name), name, parent.column(name).cast(child.column(name).type)
            )
    missing = child.join(parent, keys=ref.columns, join_type="left anti")
    mask = np.zeros(table.num_rows, dtype=bool)
    mask[missing.column(_POSITION).to_numpy()] = True
    return mask
