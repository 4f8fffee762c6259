"""A stream batch into the dataset's lake table: decoded, validated and committed with its positions, once.

Under the dataset's lease, :meth:`StreamSink.write` reads the positions the
table holds for the source, drops every message at or below them (another
consumer, or this one before a crash, committed it already), decodes and
validates the rest, and commits the valid rows, the quarantine entries and
the new positions in one Delta commit (:mod:`sluice.lake.direct`). Holding
the lease from the read of the positions to the commit is what makes two
consumers that read the same messages (a rebalance, a takeover) write them once.
A queue's batch (no positions) is deduplicated by its messages' idents instead
(:mod:`sluice.sources.streams.delivered`).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from sluice.formats import RawChunk
from sluice.lake.commit import Batch, CommitTarget
from sluice.lake.direct import OpenTable, commit_rows
from sluice.lake.frames import LeaseSpec, dataset_lease
from sluice.lake.table import table_uri
from sluice.runs.completeness import TotalsCheck
from sluice.sources.streams.base import Message, Offset, StreamBatch
from sluice.sources.streams.children import ChildOutcome, commit_children
from sluice.sources.streams.decode import Decoder, JsonDecoder
from sluice.sources.streams.delivered import DEFAULT_WINDOW, DeliveredIds, recent_digests, unseen_ids
from sluice.sources.streams.latency import BatchLatency, batch_latency
from sluice.sources.streams.positions import LakePositions, lake_positions, unseen
from sluice.sources.streams.totals import held_back, stream_checks
from sluice.telemetry import tracer
from sluice.validate.chunk import BatchContext, ChunkResult, validate_chunk
from sluice.validate.contracts import Contract


@dataclass(frozen=True)
class BatchOutcome:
    """What one batch did: messages read, valid, quarantined, written, and already in the lake (duplicate)."""

    read: int
    valid: int = 0
    quarantined: int = 0
    written: int = 0
    duplicate: int = 0
    updated: int = 0  # keyed tables (upsert, scd2): rows that replaced, deleted or left a key unchanged
    deleted: int = 0
    unchanged: int = 0
    version: int | None = None
    position: str = ""  # the batch's ranges per partition, as the commit records them
    warnings: dict[str, int] = field(default_factory=dict)
    latency: BatchLatency | None = None  # produce time to commit of the messages written (None: none carried a time)
    reasons: dict[str, int] = field(default_factory=dict)  # quarantined messages per reason code
    children: dict[str, ChildOutcome] = field(default_factory=dict)  # by child dataset of an exploded array
    bytes_read: int = 0  # the batch's messages' keys, values and headers as consumed
    # Per partition, the source's account of the batch beside what was read (sluice.sources.streams.totals).
    totals: list[TotalsCheck] = field(default_factory=list)
    held_back: bool = False  # its totals disagree under ``strict``: nothing of it was committed


def reason_counts(quarantine: pa.Table) -> dict[str, int]:
    """How many quarantine entries of ``quarantine`` name each reason."""
    if not quarantine.num_rows:
        return {}
    counted = pc.value_counts(quarantine.column("reason")).to_pylist()
    return {str(c["values"]): int(c["counts"]) for c in counted}


def decode_valid(
    decoder: Decoder, messages: Sequence[Message], contract: Contract, ctx: BatchContext
) -> tuple[RawChunk, ChunkResult]:
    """The batch decoded and validated: read by Arrow with its types when that leaves nothing to quarantine or warn of.

    Otherwise (or for a decoder with no typed read) the batch is decoded as text, so that every quarantine
    entry and warning keeps the values as they arrived (:mod:`sluice.sources.streams.flat`).
    """
    typed = decoder.decode_typed(messages, contract) if isinstance(decoder, JsonDecoder) else None
    if typed is not None:
        result = validate_chunk(typed, contract, ctx)
        if not result.quarantine.num_rows and not result.warnings:
            return typed, result
    chunk = decoder.decode(messages, contract)
    return chunk, validate_chunk(chunk, contract, ctx)


@dataclass(frozen=True)
class Prepared:
    """A batch decoded and validated ahead of its commit (:meth:`StreamSink.prepare`), as the batch ``batch_id``.

    ``ns`` is when the decoding started and ended (``time.time_ns()``): the ``stream.validate`` span's times.
    """

    ctx: BatchContext
    chunk: RawChunk
    result: ChunkResult
    ns: tuple[int, int]


def batch_range(source: str, batch: StreamBatch) -> str:
    """The position a commit of the whole of ``batch`` records (what its batch id is made of)."""
    if batch.by_ident:
        return DeliveredIds.of(source, batch).range
    return LakePositions.after(source, batch, {}).range


@dataclass
class StreamSink:
    """Commits stream batches of ``contract``'s dataset to its lake table, under the dataset's lease."""

    contract: Contract
    lake_root: str
    staging_root: Path
    quarantine_uri: str
    decoder: Decoder = field(default_factory=JsonDecoder)
    lease: LeaseSpec = field(default_factory=LeaseSpec)
    run_id: str = field(default_factory=lambda: f"stream-{uuid.uuid4().hex[:12]}")
    storage_options: dict[str, str] = field(default_factory=dict)
    ident_window: int = DEFAULT_WINDOW  # queues: the commits a redelivered message is looked for in

    def __post_init__(self) -> None:
        self.uri = table_uri(self.lake_root, self.contract.name)
        self.table = OpenTable(self.uri, self.storage_options)  # kept open by the thread that commits
        self._decoding = threading.Lock()  # one batch decoded at a time: decoders keep state (registry caches)

    def _context(self, source: str, batch_id: str) -> BatchContext:
        return BatchContext(self.contract.name, self.run_id, batch_id, source, datetime.now(timezone.utc).date())

    def _decoded(self, messages: Sequence[Message], ctx: BatchContext) -> tuple[RawChunk, ChunkResult]:
        with self._decoding:
            return decode_valid(self.decoder, messages, self.contract, ctx)

    def prepare(self, source: str, batch: StreamBatch) -> Prepared:
        """``batch`` decoded and validated whole, before its commit and outside the lease.

        :meth:`write` uses it when the lake holds none of the batch's messages (the batch id is then the
        same); otherwise it decodes the messages left. A consumer decodes the next batch while one commits.
        """
        started = time.time_ns()
        ctx = self._context(source, Batch(source, batch_range(source, batch)).id)
        chunk, result = self._decoded(batch.view, ctx)
        return Prepared(ctx, chunk, result, (started, time.time_ns()))

    def positions(self, source: str) -> dict[str, Offset]:
        """The last position per partition of ``source`` that the table holds."""
        return lake_positions(self.uri, source, self.storage_options)

    def _target(self) -> CommitTarget:
        return CommitTarget.of_run(
            self.contract, self.run_id, self.staging_root, self.uri, self.quarantine_uri, self.storage_options
        )

    def _unseen(self, source: str, batch: StreamBatch) -> tuple[StreamBatch, int, LakePositions | DeliveredIds]:
        """The messages the table does not hold yet, how many it held, and what the commit records of them."""
        if batch.by_ident:
            suspect = any(m.redelivered for m in batch.messages)
            digests = recent_digests(self.uri, source, self.ident_window, self.storage_options) if suspect else set()
            fresh, dropped = unseen_ids(batch, digests)
            return fresh, dropped, DeliveredIds.of(source, fresh)
        held = lake_positions(self.uri, source, self.storage_options, table=self.table.current())
        fresh, dropped = unseen(batch, held)
        return fresh, dropped, LakePositions.after(source, fresh, held)

    def _source_totals(
        self, source: str, fresh: StreamBatch, position: LakePositions | DeliveredIds, account: object
    ) -> list[TotalsCheck]:
        """The source's account of ``fresh`` beside the messages delivered (none when the contract compares none)."""
        before = position.before if isinstance(position, LakePositions) else {}
        return stream_checks(self.contract.completeness, source, fresh, before, account)

    def _validate(self, source: str, fresh: StreamBatch, batch_id: str, prepared: Prepared | None) -> Prepared:
        """``fresh`` decoded and validated: ``prepared`` when it was made for this batch id, else here."""
        if prepared is None or prepared.ctx.batch_id != batch_id:
            started, ctx = time.time_ns(), self._context(source, batch_id)
            chunk, result = self._decoded(fresh.view, ctx)
            prepared = Prepared(ctx, chunk, result, (started, time.time_ns()))
        span = tracer().start_span("stream.validate", start_time=prepared.ns[0])
        span.set_attribute("sluice.stream.records", len(fresh))
        span.set_attribute("sluice.stream.quarantined", prepared.result.quarantine.num_rows)
        span.end(end_time=prepared.ns[1])
        return prepared

    def write(
        self, source: str, batch: StreamBatch, prepared: Prepared | None = None, account: object = None
    ) -> BatchOutcome:
        """Commit the messages of ``batch`` the table does not hold yet, with the positions (see the module doc).

        ``prepared``: the batch as :meth:`prepare` decoded it, used when the table holds none of its messages.
        ``account``: the source, when it counts what a batch's positions span
        (:class:`~sluice.sources.streams.totals.AccountsForSpans`): under the contract's ``completeness``
        policy the batch is compared with it, and one that disagrees under ``strict`` is not committed
        (the outcome says ``held_back``).
        """
        with dataset_lease(self.lease, self.contract.name, self.run_id) as held_lease:
            fresh, dropped, position = self._unseen(source, batch)
            if not len(fresh):
                return BatchOutcome(read=len(batch), valid=len(batch), duplicate=len(batch), bytes_read=batch.size)
            totals = self._source_totals(source, fresh, position, account)
            if held_back(totals):
                return BatchOutcome(read=len(batch), position=position.range, totals=totals, held_back=True)
            done = self._validate(source, fresh, Batch(source, position.range).id, prepared)
            chunk, result, ctx = done.chunk, done.result, done.ctx
            commit = Batch(source, position.range, len(fresh), result.quarantine.num_rows)
            children = commit_children(self._target(), self.lake_root, self.lease, commit, chunk, result, ctx)
            with tracer().start_as_current_span("stream.commit") as span:
                outcome = commit_rows(
                    self._target(),
                    commit,
                    result.valid,
                    result.quarantine,
                    metadata={"run_id": self.run_id, "dataset": self.contract.name, **position.metadata()},
                    table=self.table,
                    lease=held_lease,
                )
                if outcome.lake.version is not None:
                    span.set_attribute("sluice.lake.version", outcome.lake.version)
                span.set_attribute("sluice.lake.table", self.contract.name)
            latency = batch_latency(fresh.view, int(time.time() * 1000))
        valid, lake = result.valid.num_rows, outcome.lake
        applied = lake.rows_written + lake.rows_updated + lake.rows_deleted + lake.rows_unchanged
        return BatchOutcome(
            read=len(batch),
            valid=valid + dropped,
            quarantined=result.quarantine.num_rows,
            written=lake.rows_written,
            duplicate=dropped + valid - applied,
            updated=lake.rows_updated,
            deleted=lake.rows_deleted,
            unchanged=lake.rows_unchanged,
            version=outcome.lake.version,
            position=position.range,
            warnings=dict(result.warnings),
            latency=latency,
            reasons=reason_counts(result.quarantine),
            children=children,
            bytes_read=batch.size,
            totals=totals,
        )
