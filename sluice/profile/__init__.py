"""Column profiles of the rows a run wrote: computed chunk by chunk in Arrow, mergeable, memory flat.

:mod:`.hll` counts distinct values (a HyperLogLog), :mod:`.sample` keeps a
bounded sample for quantiles, :mod:`.column` holds one column's mergeable
state and :mod:`.table` profiles record batches of a whole table.
"""

from sluice.profile.column import ColumnProfile, ColumnState, Kind, kind_of
from sluice.profile.table import TableProfile, TableState, profile_batches

__all__ = [
    "ColumnProfile",
    "ColumnState",
    "Kind",
    "TableProfile",
    "TableState",
    "kind_of",
    "profile_batches",
]
