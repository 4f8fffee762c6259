"""The positions a lake table holds for a stream source, recorded in the commit metadata with the data.

Every commit of a stream's batch records, under ``sluice.stream``, the
source, the batch's range per partition (``from``/``to``) and ``held``: the
last position of every partition of the source that the table holds, this
batch's merged into the previous commit's. The newest commit that names the
source therefore has every partition's position, and a restart reads only
that one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
from deltalake import DeltaTable

from sluice.lake.table import newest_metadata
from sluice.sources.streams.base import Offset, Range, StreamBatch

STREAM_META = "stream"


@dataclass(frozen=True)
class LakePositions:
    """What a commit of a stream batch records: the source, the batch's ranges, and every partition's position."""

    source: str
    ranges: dict[str, Range]
    held: dict[str, Offset]
    before: dict[str, Offset] = field(default_factory=dict)  # the positions the table held before the batch

    @classmethod
    def after(cls, source: str, batch: StreamBatch, before: dict[str, Offset]) -> LakePositions:
        """The positions once ``batch`` is committed on top of ``before``."""
        ranges = batch.ranges
        held = dict(before)
        for partition, span in ranges.items():
            held[partition] = max(span.last, held.get(partition, span.last))
        return cls(source, ranges, held, dict(before))

    def metadata(self) -> dict[str, object]:
        parts = sorted(self.ranges)
        return {
            STREAM_META: {
                "source": self.source,
                "from": {p: self.ranges[p].first.text() for p in parts},
                "to": {p: self.ranges[p].last.text() for p in parts},
                "held": {p: o.text() for p, o in sorted(self.held.items())},
            }
        }

    @property
    def range(self) -> str:
        """The batch position the commit protocol records (with the source, it makes the batch id)."""
        spans = {p: f"{r.first.text()}..{r.last.text()}" for p, r in sorted(self.ranges.items())}
        return json.dumps(spans, separators=(",", ":"))


def lake_positions(
    uri: str, source: str, storage_options: dict[str, str] | None = None, *, table: DeltaTable | None = None
) -> dict[str, Offset]:
    """The last position per partition of ``source`` that the table at ``uri`` holds (empty: none).

    ``table``: the table already open and up to date (else it is opened here).
    """
    meta = newest_metadata(uri, STREAM_META, lambda m: m.get("source") == source, storage_options, table=table)
    if meta is None:
        return {}
    return {p: Offset.parse(str(o)) for p, o in dict(meta.get("held", {})).items()}


def unseen(batch: StreamBatch, held: dict[str, Offset]) -> tuple[StreamBatch, int]:
    """The messages of ``batch`` past what the lake holds for their partition, and how many were dropped."""
    cols = batch.columns
    if cols is not None:  # Kafka: offsets with no minor part, compared as columns
        floor = np.asarray([held[n].major if n in held else -1 for n in cols.names], dtype=np.int64)
        keep = cols.offsets > floor[cols.part]
        if keep.all():
            return batch, 0
        return StreamBatch(columns=cols.take(np.flatnonzero(keep))), int(len(keep) - keep.sum())
    fresh = [m for m in batch.messages if m.partition not in held or m.offset > held[m.partition]]
    return StreamBatch(fresh), len(batch) - len(fresh)
