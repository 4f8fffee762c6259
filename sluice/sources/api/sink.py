"""A page of records into the dataset's lake table: as an Arrow chunk, validated, committed with its position.

The records a page holds become one chunk of the contract's columns (each value
as its text, typed by the contract like a file's); records that are not JSON
objects, and a page whose body is not JSON, become quarantine entries that keep
the request that produced them. The valid rows, the quarantine entries and the
endpoint's next position (:mod:`sluice.sources.api.state`) go into one Delta
commit under the dataset's lease, through the commit protocol every source
shares (:func:`sluice.lake.direct.commit_rows`; upsert and scd2 tables by key).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa

from sluice.formats import MalformedRow, RawChunk
from sluice.lake.commit import Batch, CommitTarget
from sluice.lake.direct import OpenTable, commit_rows
from sluice.lake.frames import LeaseSpec, dataset_lease
from sluice.lake.table import table_uri
from sluice.sources.api.fetch import BadPage
from sluice.sources.api.pages import PageRequest
from sluice.sources.api.state import ApiPosition
from sluice.validate.chunk import BatchContext, validate_chunk
from sluice.validate.contracts import Contract
from sluice.validate.quality import Reason


def _as_text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def records_chunk(records: list[object], contract: Contract) -> RawChunk:
    """The page's records as a chunk of the contract's columns, one column at a time; non-objects malformed."""
    objects = [r for r in records if isinstance(r, dict)]
    rows = np.fromiter((i for i, r in enumerate(records) if isinstance(r, dict)), dtype=np.int64)
    table = pa.table({n: pa.array([_as_text(r.get(n)) for r in objects], pa.string()) for n in contract.column_names})
    bad = [
        MalformedRow(i, json.dumps(r), Reason.MALFORMED_JSON, f"a JSON {type(r).__name__}, not an object")
        for i, r in enumerate(records)
        if not isinstance(r, dict)
    ]
    return RawChunk(table, rows, bad)


def bad_page_row(page: BadPage, line: int) -> MalformedRow:
    """A page that could not be read, as one malformed entry holding the request and what came back."""
    text = json.dumps(
        {
            "method": "GET",
            "url": page.request.url,
            "params": page.request.params,
            "status": page.status,
            "body": page.excerpt,
        },
        ensure_ascii=False,
    )
    return MalformedRow(line, text, Reason.MALFORMED_JSON, page.detail)


def group_chunk(records: list[object], bad: list[BadPage], contract: Contract) -> RawChunk:
    """The records of a group of pages as one chunk; each unreadable page one malformed entry after them."""
    chunk = records_chunk(records, contract)
    chunk.malformed.extend(bad_page_row(page, len(records) + i) for i, page in enumerate(bad))
    return chunk


@dataclass(frozen=True)
class PageOutcome:
    read: int
    valid: int
    quarantined: int
    written: int
    updated: int
    deleted: int
    unchanged: int
    version: int | None
    skipped: bool  # the lake records this page already
    request: str = ""  # the request that produced the page


@dataclass
class ApiSink:
    """Commits pages of ``contract``'s dataset with their endpoint's position, under the dataset's lease."""

    contract: Contract
    lake_root: str
    staging_root: Path
    quarantine_uri: str
    lease: LeaseSpec = field(default_factory=LeaseSpec)
    run_id: str = field(default_factory=lambda: f"api-{uuid.uuid4().hex[:12]}")
    storage_options: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.uri = table_uri(self.lake_root, self.contract.name)
        self.table = OpenTable(self.uri, self.storage_options)

    def _target(self) -> CommitTarget:
        return CommitTarget.of_run(
            self.contract, self.run_id, self.staging_root, self.uri, self.quarantine_uri, self.storage_options
        )

    def write(self, chunk: RawChunk, req: PageRequest, was: ApiPosition, now: ApiPosition) -> PageOutcome:
        """Commit ``chunk``, the page ``req`` of the pass ``was`` names, with ``now`` as the endpoint's position."""
        batch = Batch(was.source, was.batch_position(req))
        ctx = BatchContext(self.contract.name, self.run_id, batch.id, req.url, datetime.now(timezone.utc).date())
        result = validate_chunk(chunk, self.contract, ctx)
        read = chunk.table.num_rows + len(chunk.malformed)
        commit = Batch(batch.source, batch.position, read, result.quarantine.num_rows)
        with dataset_lease(self.lease, self.contract.name, self.run_id) as held:
            self.table.current()
            outcome = commit_rows(
                self._target(),
                commit,
                result.valid,
                result.quarantine,
                metadata={"run_id": self.run_id, "dataset": self.contract.name, **now.metadata()},
                table=self.table,
                lease=held,
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
            request=req.text(),
        )
