"""Control totals: what the source says it sent, against what a run read, judged by the contract's policy.

Each source that states totals gives one :class:`ControlTotals` per batch (a
file's manifest, a table's ``count(*)`` in the read's snapshot); the run
holds one :class:`TotalsCheck` per batch with both sides, which
``ops runs show`` prints and the metadata store keeps. Rows compare with the
rows the run read from the batch (written, duplicate and quarantined alike: a
row the source sent and Sluice quarantined was not lost); a sum compares with
the sum of the column over the batch's valid rows, so a quarantined row with
a value makes the sums differ. A stream's checks are per partition of a batch
(:mod:`sluice.sources.streams.totals`), and say ``not_comparable`` where the
source's count cannot be exact (a compacted topic, a queue): such a check
never fails a run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sluice.errors import CompletenessError
from sluice.validate.completeness import CompletenessPolicy, CompletenessSpec

if TYPE_CHECKING:
    import pyarrow as pa  # the run records are read by the CLI, which imports no Arrow to start

REL_TOLERANCE = 1e-9  # sums of floats compare within this relative tolerance (summation order differs)
WARNING = "completeness:mismatch"  # the run warning a disagreement under ``warn`` counts


@dataclass(frozen=True)
class ControlTotals:
    """What a source says one batch holds: its rows, and the sums of some columns."""

    rows: int
    sums: dict[str, float] = field(default_factory=dict)
    origin: str = ""  # where the totals come from: a manifest's URI, "count(*) in the read's snapshot"


@dataclass
class TotalsCheck:
    """One batch's control totals (the source says) beside what the run read (landed), and the verdict."""

    source: str
    origin: str = ""
    source_rows: int | None = None  # None: the source stated no totals
    read_rows: int = 0
    column: str | None = None
    source_sum: float | None = None
    read_sum: float | None = None
    policy: str = CompletenessPolicy.OFF.value
    # Why the source's account cannot be held against what was read (a compacted topic, a queue); empty: it can.
    not_comparable: str = ""

    @property
    def comparable(self) -> bool:
        return not self.not_comparable

    @property
    def differences(self) -> list[str]:
        """What disagrees, in words; empty when the totals agree or cannot be compared."""
        if self.not_comparable:
            return []
        if self.source_rows is None:
            return ["the source stated no control totals"]
        found = []
        if self.source_rows != self.read_rows:
            found.append(f"the source says {self.source_rows:,} rows, {self.read_rows:,} were read")
        if self.column is not None and not _same(self.source_sum, self.read_sum):
            found.append(
                f"the source says sum({self.column}) = {self.source_sum}, the valid rows read sum to {self.read_sum}"
            )
        return found

    @property
    def agrees(self) -> bool:
        return not self.differences


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=REL_TOLERANCE, abs_tol=1e-9)


def check(
    spec: CompletenessSpec, source: str, totals: ControlTotals | None, read_rows: int, read_sums: dict[str, float]
) -> TotalsCheck:
    """Both sides of one batch under the contract's completeness ``spec``."""
    column = spec.sum
    result = TotalsCheck(source=source, read_rows=read_rows, column=column, policy=spec.policy.value)
    if totals is not None:
        take_source_side(result, totals)
        if column is not None:
            result.read_sum = read_sums.get(column, 0.0)
    return result


def take_source_side(result: TotalsCheck, totals: ControlTotals) -> None:
    """Fill the source's side of ``result`` (the read side stays as it is)."""
    result.origin, result.source_rows = totals.origin, totals.rows
    if result.column is not None:
        result.source_sum = totals.sums.get(result.column)


def add_read_sum(totals: TotalsCheck | None, valid: pa.Table) -> None:
    """Add a chunk's valid rows to the read side's sum (when the check compares one)."""
    if totals is None or totals.column is None or totals.column not in valid.column_names:
        return
    import pyarrow.compute as pc

    total = pc.sum(valid.column(totals.column)).as_py()
    totals.read_sum = (totals.read_sum or 0.0) + float(total or 0)


def incomplete(dataset: str, checks: list[TotalsCheck]) -> CompletenessError | None:
    """The error of the checks that disagree under the ``strict`` policy (the first, and how many); None: none."""
    bad = [c for c in checks if c.policy == CompletenessPolicy.STRICT.value and not c.agrees]
    if not bad:
        return None
    more = f" (and {len(bad) - 1} more batch(es))" if len(bad) > 1 else ""
    return CompletenessError(f"{dataset}: {bad[0].source}: {'; '.join(bad[0].differences)}{more}")


def ensure_complete(dataset: str, checks: list[TotalsCheck]) -> None:
    """Raise when a check disagrees under the ``strict`` policy.

    Raises:
        CompletenessError: the first disagreeing batch, and how many there are.
    """
    error = incomplete(dataset, checks)
    if error is not None:
        raise error
