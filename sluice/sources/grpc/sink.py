"""A batch of messages into the dataset's lake table, committed with the last resume token of the batch.

Messages become one chunk of the contract's columns (``MessageToDict`` with the
fields' proto names, then each column at once, as the REST source's records);
a message that does not parse is a quarantine entry with its bytes (hex) and
why. The commit goes through the protocol every source shares
(:func:`sluice.lake.direct.commit_rows`) under the dataset's lease, with the
token in its metadata (``grpc``). Under the lease the token the batch started
after is compared with the newest one the table holds: when another run has
moved it, nothing is committed and the batch is reported stale, so the sync
reopens the stream from the table's token (no message is committed twice).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from deltalake import DeltaTable
from google.protobuf import json_format

from sluice.formats import MalformedRow, RawChunk
from sluice.lake.commit import Batch, CommitTarget
from sluice.lake.direct import OpenTable, commit_rows
from sluice.lake.frames import LeaseSpec, dataset_lease
from sluice.lake.table import newest_metadata, table_uri
from sluice.sources.api.sink import PageOutcome, records_chunk
from sluice.sources.grpc.stream import Received
from sluice.validate.chunk import BatchContext, validate_chunk
from sluice.validate.contracts import Contract
from sluice.validate.quality import Reason

GRPC_META = "grpc"
EXCERPT_BYTES = 512


def read_token(
    uri: str, source: str, storage_options: dict[str, str] | None = None, table: DeltaTable | None = None
) -> str | None:
    """The resume token of ``source`` in the newest commit of the table at ``uri`` that names it."""
    meta = newest_metadata(uri, GRPC_META, lambda m: m.get("source") == source, storage_options, table=table)
    token = None if meta is None else meta.get("token")
    return token if isinstance(token, str) else None


def messages_chunk(received: list[Received], contract: Contract) -> RawChunk:
    """The messages as a chunk of the contract's columns; those that did not parse malformed, in order."""
    records: list[object] = []
    for got in received:
        if got.message is None:
            records.append(None)
        else:
            records.append(
                json_format.MessageToDict(
                    got.message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
                )
            )
    chunk = records_chunk(records, contract)
    chunk.malformed = [
        MalformedRow(i, got.raw[:EXCERPT_BYTES].hex(), Reason.MALFORMED_ROW, got.error)
        for i, got in enumerate(received)
        if got.message is None
    ]
    return chunk


@dataclass(frozen=True)
class Stale:
    """The table's token moved on since the batch began (another run committed): nothing was committed."""

    token: str | None


@dataclass
class GrpcSink:
    contract: Contract
    source: str
    lake_root: str
    staging_root: Path
    quarantine_uri: str
    lease: LeaseSpec = field(default_factory=LeaseSpec)
    run_id: str = field(default_factory=lambda: f"grpc-{uuid.uuid4().hex[:12]}")
    storage_options: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.uri = table_uri(self.lake_root, self.contract.name)
        self.table = OpenTable(self.uri, self.storage_options)

    def token(self) -> str | None:
        return read_token(self.uri, self.source, self.storage_options)

    def _target(self) -> CommitTarget:
        return CommitTarget.of_run(
            self.contract, self.run_id, self.staging_root, self.uri, self.quarantine_uri, self.storage_options
        )

    def write(self, received: list[Received], after: str | None, token: str | None) -> PageOutcome | Stale:
        """Commit ``received`` (the messages after the token ``after``) with ``token`` as the position."""
        chunk = messages_chunk(received, self.contract)
        position = json.dumps({"after": after}, sort_keys=True)
        batch = Batch(self.source, position)
        ctx = BatchContext(self.contract.name, self.run_id, batch.id, self.source, datetime.now(timezone.utc).date())
        result = validate_chunk(chunk, self.contract, ctx)
        read = chunk.table.num_rows + len(chunk.malformed)
        commit = Batch(batch.source, batch.position, read, result.quarantine.num_rows)
        meta: dict[str, object] = {
            "run_id": self.run_id,
            "dataset": self.contract.name,
            GRPC_META: {"source": self.source, "token": token},
        }
        with dataset_lease(self.lease, self.contract.name, self.run_id) as held:
            current = self.table.current()
            now = read_token(self.uri, self.source, self.storage_options, table=current)
            if now != after:
                return Stale(now)
            outcome = commit_rows(
                self._target(), commit, result.valid, result.quarantine, metadata=meta, table=self.table, lease=held
            )
        lake = outcome.lake
        return PageOutcome(
            read=read,
            valid=result.valid.num_rows,
            quarantined=result.quarantine.num_rows,
            written=lake.rows_written,
            updated=lake.rows_updated,
            deleted=lake.rows_deleted,
            unchanged=lake.rows_unchanged,
            version=lake.version,
            skipped=batch.id in outcome.skipped,
            request=position,
        )
