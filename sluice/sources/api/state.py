"""An endpoint's sync position, recorded in the commit metadata of every page with the page's records.

Under ``sluice.api`` each commit records the source (``api.endpoint``), the
pass (a sync from the first page to the last), the updated-since value the pass
asks for, the newest update time it has seen, the request of the next page
(none: the pass is complete), and for a child endpoint the parent it is on. The
newest commit that names the source is where the next run starts: the next
page of the pass, or, when the pass is complete, a new pass from the newest
update seen less the look-back (from the pass's own since again when a page
of it could not be read and was quarantined). A page's batch id is made of its pass and
request, so a page committed already is never committed again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from deltalake import DeltaTable

from sluice.lake.table import newest_metadata
from sluice.sources.api.pages import PageRequest

API_META = "api"


@dataclass(frozen=True)
class ApiPosition:
    source: str
    run: int = 0  # the pass: 1 for the first sync, one more for each next
    since: str | None = None  # what the pass asks for updates since
    high: str | None = None  # the newest update time the pass has seen
    next: PageRequest | None = None  # the next page's request (None: the pass is complete)
    parent: str | None = None  # a child endpoint: the parent key the next page belongs to
    gaps: int = 0  # pages of the pass that could not be read (quarantined): the next pass asks from ``since`` again

    @property
    def complete(self) -> bool:
        return self.next is None

    def metadata(self) -> dict[str, object]:
        return {
            API_META: {
                "source": self.source,
                "pass": self.run,
                "since": self.since,
                "high": self.high,
                "next": None if self.next is None else json.loads(self.next.text()),
                "parent": self.parent,
                "gaps": self.gaps,
            }
        }

    def batch_position(self, req: PageRequest) -> str:
        """What a commit of the page ``req`` of this pass records as its position (it makes the batch id)."""
        found = {"pass": self.run, "parent": self.parent, "gaps": self.gaps, "request": json.loads(req.text())}
        return json.dumps(found, sort_keys=True)

    def seen(self, stamps: list[str]) -> ApiPosition:
        """The newest update time of the pass once ``stamps`` (ISO 8601) are seen."""
        known = [s for s in (*stamps, self.high) if s]
        if not known:
            return self
        return replace(self, high=max(known, key=_instant))

    def watermark(self, look_back: timedelta) -> str | None:
        """The next pass's updated-since: the newest update seen less ``look_back``.

        This pass's own when it saw no update, or when a page of it could not be read (its records come again).
        """
        if self.high is None or self.gaps:
            return self.since
        return (_instant(self.high) - look_back).isoformat()


def _instant(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def read_position(uri: str, source: str, storage_options: dict[str, str] | None = None) -> ApiPosition | None:
    """The position of ``source`` in the newest commit of the table at ``uri`` that names it."""
    meta = newest_metadata(uri, API_META, lambda m: m.get("source") == source, storage_options)
    if meta is None:
        return None
    nxt = meta.get("next")
    return ApiPosition(
        source,
        int(meta.get("pass", 0)),
        meta.get("since"),
        meta.get("high"),
        PageRequest.parse(nxt) if isinstance(nxt, dict) else None,
        meta.get("parent"),
        int(meta.get("gaps", 0)),
    )


def parent_keys(
    table: DeltaTable | None, key: str, updated: str | None, since: str | None
) -> tuple[list[str], list[str]]:
    """A parent dataset's keys in order (those updated since ``since`` when it has ``updated``), and their stamps."""
    if table is None:
        return [], []
    columns = [key] if updated is None else [key, updated]
    rows = table.to_pyarrow_table(columns=columns).to_pylist()
    found: list[tuple[str, str]] = []
    for row in rows:
        stamp = row.get(updated) if updated else None
        text = stamp.isoformat() if isinstance(stamp, datetime) else (str(stamp) if stamp is not None else "")
        if since is None or not text or _instant(text) >= _instant(since):
            found.append((str(row[key]), text))
    found.sort()
    return [k for k, _ in found], [s for _, s in found if s]
