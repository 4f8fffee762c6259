"""What the hold table of a dataset holds: each held row with its age, its missing parents and its fate.

The fate is what the next release (:func:`sluice.lake.held.release_held`) would do with the row, judged
at ``now`` against the parents' current lake tables:

- ``waiting``: a parent is still missing and the row's ``hold_timeout`` has not passed;
- ``parent landed``: every parent is in the lake, the row lands;
- ``due``: a parent is missing and the timeout has passed, the row is quarantined (``orphan_reference``);
- ``releasing``: a release marked it and has not finished; the next release finishes it;
- ``not committed``: its batch has not reached the lake (the run stopped before its commit, or is committing);
  no release takes it, and a release purges it once it was stored longer ago than the staging stale hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sluice.lake.held import HELD_AT, HELD_RUN, RELEASE, SOURCE_FILE, decide
from sluice.lake.table import open_table
from sluice.validate.chunk import BATCH_COL, ROW_COL
from sluice.validate.contracts import Contract
from sluice.validate.references import ParentKeys, ReferencePolicy, orphan_mask


@dataclass(frozen=True)
class HeldRow:
    """One held row: where it came from, when it was held, which parent key it waits for, and its fate."""

    batch_id: str
    source_row: int
    source_file: str
    held_run: str
    held_at: datetime
    age: timedelta
    waits_for: str  # e.g. ``customers.customer_id=C000007``; several references joined by ``; ``
    due_at: datetime | None  # when its wait is over (the soonest timeout of the references it is an orphan of)
    fate: str


def _waits_for(rows: pa.Table, contract: Contract, parents: ParentKeys) -> tuple[list[str], np.ndarray]:
    """Per row: the parent keys it lacks, and the soonest timeout among those references (in seconds)."""
    texts: list[list[str]] = [[] for _ in range(rows.num_rows)]
    timeout = np.full(rows.num_rows, np.inf)
    for ref in contract.references:
        if ref.policy is not ReferencePolicy.HOLD:
            continue
        mask = orphan_mask(rows, ref, parents.get(ref.to))
        keys = [rows.column(c).to_pylist() for c in ref.columns]
        for i in np.flatnonzero(mask):
            texts[i].append(f"{ref.to}=" + ",".join(str(k[i]) for k in keys))
        timeout[mask] = np.minimum(timeout[mask], ref.hold_timeout.total_seconds())
    return ["; ".join(t) for t in texts], timeout


def held_rows(
    uri: str,
    contract: Contract,
    parents: ParentKeys,
    now: datetime,
    committed: set[str],
    storage_options: dict[str, str] | None = None,
) -> list[HeldRow]:
    """Every row of the hold table at ``uri``, oldest first, with its fate at ``now`` (see the module doc).

    ``committed``: the batch ids, of those in the hold table, that the dataset's lake table records.
    """
    table = open_table(uri, storage_options)
    if table is None:
        return []
    rows = table.to_pyarrow_table()
    if not rows.num_rows:
        return []
    rows = rows.take(pc.sort_indices(rows, [(HELD_AT, "ascending"), (BATCH_COL, "ascending"), (ROW_COL, "ascending")]))
    landed, expired = decide(rows, contract, parents, now)
    waits, timeout = _waits_for(rows, contract, parents)
    marked = pc.is_valid(rows.column(RELEASE)).to_numpy(zero_copy_only=False)
    batches, held_at = rows.column(BATCH_COL).to_pylist(), rows.column(HELD_AT).to_pylist()
    found = []
    for i, (batch, at) in enumerate(zip(batches, held_at, strict=True)):
        if marked[i]:
            fate = "releasing"
        elif batch not in committed:
            fate = "not committed"
        else:
            fate = "parent landed" if landed[i] else "due" if expired[i] else "waiting"
        due = None if np.isinf(timeout[i]) else at + timedelta(seconds=float(timeout[i]))
        found.append(
            HeldRow(
                batch_id=batch,
                source_row=int(rows.column(ROW_COL)[i].as_py()),
                source_file=str(rows.column(SOURCE_FILE)[i].as_py()),
                held_run=str(rows.column(HELD_RUN)[i].as_py()),
                held_at=at,
                age=now - at,
                waits_for=waits[i],
                due_at=due,
                fate=fate,
            )
        )
    return found
