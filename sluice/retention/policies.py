"""Retention policies: a dataset's rows whose partition date is older than its contract's ``partition.retention``.

The lake-maintenance flow deletes them (a Delta delete on the ``dt`` partition
column, so whole files go) unless a legal hold covers the dataset; its vacuum
then removes the files after Delta's retention, and time travel cannot bring
them back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from deltalake.exceptions import CommitFailedError

from sluice.errors import LakeConflictError
from sluice.lake.table import open_table
from sluice.retention.holds import Hold, blocking
from sluice.validate.chunk import PARTITION
from sluice.validate.contracts import Contract

ATTEMPTS = 5


@dataclass(frozen=True)
class RetentionOutcome:
    """What retention did to one dataset: rows deleted, or why nothing was (held, no policy, no table)."""

    dataset: str
    rows_deleted: int = 0
    cutoff: date | None = None  # rows of dates before this one are past the policy
    version: int | None = None  # the version whose commit deleted them
    held_by: tuple[str, ...] = ()  # "hold-id: reason" of each hold that blocked the delete

    @property
    def summary(self) -> str:
        if self.held_by:
            return f"{self.dataset}: held, nothing deleted ({'; '.join(self.held_by)})"
        if self.cutoff is None:
            return f"{self.dataset}: no retention policy"
        return f"{self.dataset}: {self.rows_deleted} rows before {self.cutoff} deleted"


def cutoff_date(retention: timedelta, today: date) -> date:
    """The first partition date a policy of ``retention`` keeps on ``today``."""
    return today - retention


def apply_retention(
    contract: Contract, uri: str, holds: list[Hold], today: date, storage_options: dict[str, str] | None = None
) -> RetentionOutcome:
    """Delete ``contract``'s rows older than its policy from the table at ``uri``, unless a hold covers it.

    The predicate compares the partition column with a date formatted here, never with text from outside.

    Raises:
        LakeConflictError: other writers kept the delete from committing.
    """
    retention = contract.partition.retention
    if retention is None:
        return RetentionOutcome(contract.name)
    cutoff = cutoff_date(retention, today)
    held = blocking(holds, contract.name)
    if held:
        return RetentionOutcome(contract.name, cutoff=cutoff, held_by=tuple(f"{h.hold_id}: {h.reason}" for h in held))
    predicate = f"{PARTITION} < '{cutoff.isoformat()}'"
    for attempt in range(1, ATTEMPTS + 1):
        table = open_table(uri, storage_options)
        if table is None:
            return RetentionOutcome(contract.name, cutoff=cutoff)
        if not any(p[PARTITION] < cutoff.isoformat() for p in table.partitions()):
            return RetentionOutcome(contract.name, cutoff=cutoff)
        try:
            metrics = table.delete(predicate)
        except CommitFailedError as exc:
            if attempt == ATTEMPTS:
                raise LakeConflictError(
                    f"cannot apply the retention of {contract.name}: other writers kept committing ({exc})",
                    hint="the next lake-maintenance run tries again",
                ) from None
            continue
        return RetentionOutcome(contract.name, int(metrics.get("num_deleted_rows", 0)), cutoff, table.version())
    return RetentionOutcome(contract.name, cutoff=cutoff)
