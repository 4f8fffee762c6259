"""Exactly once from a queue: messages deduplicated by their ident, recorded in each lake commit.

A RabbitMQ queue (quorum or classic) has no replayable positions: an
acknowledged message is gone, an unacknowledged one comes back to some
consumer, flagged ``redelivered``, in no particular place. So each commit of
a queue's batch records, under ``sluice.stream``, the source and the
:func:`digest` of every message's ident (the producer's ``message_id``, or
a hash of the body when the producer set none); the batch id is a hash of
those digests.

A message delivered for the first time cannot be in the lake. A batch with
redelivered messages is checked against the idents of the source's last
``window`` commits (read from the table's history, under the dataset's lease):
those the lake holds are acknowledged without being written. A redelivered
message was committed, if at all, just before its consumer died without
acknowledging it; ``window`` only has to cover the commits other consumers
made before the broker noticed (its heartbeat timeout). Two messages with the
same ident are one message: a producer that sets no ``message_id`` and sends
the same bytes twice may see the second dropped if it is redelivered.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from sluice.lake.table import META_PREFIX, open_table
from sluice.sources.streams.base import StreamBatch
from sluice.sources.streams.positions import STREAM_META

DIGEST_CHARS = 16
DEFAULT_WINDOW = 1_000


def digest(ident: str) -> str:
    """The short hash of an ident that commits record (64 bits)."""
    return hashlib.sha256(ident.encode()).hexdigest()[:DIGEST_CHARS]


def body_ident(body: bytes) -> str:
    """The ident of a message without a producer's message id: the hash of its bytes."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


@dataclass(frozen=True)
class DeliveredIds:
    """What a commit of a queue's batch records: the source and its messages' ident digests."""

    source: str
    digests: tuple[str, ...]

    @classmethod
    def of(cls, source: str, batch: StreamBatch) -> DeliveredIds:
        return cls(source, tuple(digest(str(m.ident)) for m in batch.messages))

    @property
    def range(self) -> str:
        """The batch position the commit protocol records: the count and a hash of the digests."""
        whole = hashlib.sha256(",".join(self.digests).encode()).hexdigest()[:32]
        return json.dumps({"ids": len(self.digests), "digest": whole}, separators=(",", ":"))

    def metadata(self) -> dict[str, object]:
        return {STREAM_META: {"source": self.source, "ids": list(self.digests)}}


def recent_digests(
    uri: str, source: str, window: int = DEFAULT_WINDOW, storage_options: dict[str, str] | None = None
) -> set[str]:
    """The ident digests the last ``window`` commits of the table at ``uri`` recorded for ``source``."""
    table = open_table(uri, storage_options)
    if table is None:
        return set()
    out: set[str] = set()
    for entry in table.history(limit=window):
        raw = entry.get(f"{META_PREFIX}{STREAM_META}")
        if not isinstance(raw, str):
            continue
        meta = json.loads(raw)
        if isinstance(meta, dict) and meta.get("source") == source:
            out.update(str(d) for d in meta.get("ids", []))
    return out


def unseen_ids(batch: StreamBatch, held: set[str]) -> tuple[StreamBatch, int]:
    """The messages of ``batch`` but the redelivered ones whose digests are in ``held``, and how many were dropped."""
    fresh = [m for m in batch.messages if not (m.redelivered and digest(str(m.ident)) in held)]
    return StreamBatch(fresh), len(batch) - len(fresh)
