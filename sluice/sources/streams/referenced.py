"""A stream sink that checks the contract's ``references`` against the parents' lake tables.

Each batch is checked as it is validated (:func:`sluice.validate.chunk.validate_chunk` with the
parents' keys at their current versions): ``quarantine`` orphans go to the quarantine in the batch's
commit, ``warn`` orphans land with the warning ``COLUMN:orphan_reference``, and ``hold`` orphans are
stored in the hold table (:mod:`sluice.lake.held_store`: one pending row per key) under the dataset's
lease, just before the batch's lake commit, with the batch's id. They count only once the lake records
their batch: a batch whose commit never happens (the process died) leaves rows a release purges once
stale, and the broker delivers its messages again; a redelivery stores each orphan's key once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from functools import partial

from sluice.formats import RawChunk
from sluice.lake.held import held_uri, parent_keys, store_batch_held, with_hold_columns
from sluice.lake.table import table_uri
from sluice.sources.streams.base import Message, StreamBatch
from sluice.sources.streams.decode import Decoder, JsonDecoder
from sluice.sources.streams.sink import BatchOutcome, Prepared, StreamSink
from sluice.validate.chunk import BatchContext, ChunkResult, validate_chunk
from sluice.validate.contracts import Contract
from sluice.validate.references import ParentKeys


@dataclass(frozen=True)
class ReferencedOutcome(BatchOutcome):
    """A batch's outcome with its rows held for a parent, and its orphans under any policy."""

    held: int = 0
    orphans: int = 0


def decode_checked(
    decoder: Decoder, messages: Sequence[Message], contract: Contract, ctx: BatchContext, parents: ParentKeys
) -> tuple[RawChunk, ChunkResult]:
    """The batch decoded and validated with its references checked (the typed read first, as the sink's)."""
    typed = decoder.decode_typed(messages, contract) if isinstance(decoder, JsonDecoder) else None
    if typed is not None:
        result = validate_chunk(typed, contract, ctx, parents=parents)
        if not result.quarantine.num_rows and not result.warnings:
            return typed, result
    chunk = decoder.decode(messages, contract)
    return chunk, validate_chunk(chunk, contract, ctx, parents=parents)


@dataclass
class ReferencedSink(StreamSink):
    """:class:`StreamSink` with the contract's references checked (see the module doc)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.held_uri = held_uri(self.lake_root, self.contract.name)
        self._counts = (0, 0)  # the batch being written: rows held, orphans

    def parents(self) -> ParentKeys:
        return parent_keys(self.contract, partial(table_uri, self.lake_root), self.storage_options)

    def _decoded(self, messages: Sequence[Message], ctx: BatchContext) -> tuple[RawChunk, ChunkResult]:
        parents = self.parents()
        with self._decoding:
            return decode_checked(self.decoder, messages, self.contract, ctx, parents)

    def _validate(self, source: str, fresh: StreamBatch, batch_id: str, prepared: Prepared | None) -> Prepared:
        """The batch validated; its held rows stored under the lease the caller holds, before the commit."""
        done = super()._validate(source, fresh, batch_id, prepared)
        held = done.result.held
        if held is not None and held.num_rows:
            rows = with_hold_columns(held, run_id=self.run_id, source_file=source)
            store_batch_held(self.held_uri, rows, self.contract, self.storage_options)
        self._counts = (held.num_rows if held is not None else 0, done.result.orphans)
        return done

    def write(
        self, source: str, batch: StreamBatch, prepared: Prepared | None = None, account: object = None
    ) -> ReferencedOutcome:
        self._counts = (0, 0)
        out = super().write(source, batch, prepared, account)
        held, orphans = self._counts
        return ReferencedOutcome(**{f.name: getattr(out, f.name) for f in fields(out)}, held=held, orphans=orphans)
