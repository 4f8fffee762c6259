"""An endpoint synced into its dataset: one pass from the position the lake holds to the last page.

:meth:`EndpointSync.run` reads the endpoint's position from the lake
(:mod:`sluice.sources.api.state`): an unfinished pass resumes with the page
after the last one committed; otherwise a new pass starts, asking for records
updated since the newest update the previous pass saw, less the look-back.
Pages are committed with the position after them (:mod:`sluice.sources.api.sink`),
together until they hold ``commit_records`` records (the pass's last page, an
unreadable page, or an error commits what was fetched), one commit at a time
in the background while the next pages are fetched, so a run killed at any
point resumes without a gap, and a page is never committed twice. Records
the look-back fetches again, or that changed between calls, are applied by
key (upsert), so the lake keeps each record's latest version once. A child
endpoint's pass walks its parent dataset's keys (those updated since the
pass's since) in order, every page of one parent before the next.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import timedelta

from deltalake import DeltaTable

from sluice.errors import SluiceError, SourceError
from sluice.lake.table import open_table, table_uri
from sluice.sources.api.fetch import ApiClient, BadPage, Page
from sluice.sources.api.pages import PageRequest, first_request, next_request, numbered_next
from sluice.sources.api.sink import ApiSink, PageOutcome, group_chunk
from sluice.sources.api.spec import ApiSpec, Endpoint, PageStyle
from sluice.sources.api.state import ApiPosition, parent_keys, read_position

log = logging.getLogger("sluice.api")
BAD_PAGES_IN_A_ROW = 3  # unreadable pages one after another that stop a pass (the API is broken, not one page)


@dataclass
class SyncOutcome:
    """What a run did to one endpoint: pages, records, quarantine, rows applied, and whether its pass completed."""

    source: str
    pages: int = 0
    records: int = 0
    valid: int = 0
    quarantined: int = 0
    written: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    complete: bool = False
    position: str = ""
    committed: list[PageOutcome] = field(default_factory=list)

    def add(self, page: PageOutcome) -> None:
        self.committed.append(page)
        self.records += page.read
        self.valid += page.valid
        self.quarantined += page.quarantined
        self.written += page.written
        self.updated += page.updated
        self.unchanged += page.unchanged
        self.skipped += int(page.skipped)


@dataclass
class Parents:
    """A child endpoint's parent dataset: its table, key column and update-time column."""

    table: Callable[[], DeltaTable | None]
    key: str
    updated: str | None
    look_back: timedelta = timedelta(0)


@dataclass
class Group:
    """Pages fetched since the last commit: committed together, as one batch, from ``start`` (``first``'s pass)."""

    start: ApiPosition
    first: PageRequest
    records: list[object] = field(default_factory=list)
    bad: list[BadPage] = field(default_factory=list)


@dataclass
class EndpointSync:
    spec: ApiSpec
    endpoint: Endpoint
    client: ApiClient
    sink: ApiSink
    parents: Parents | None = None
    on_page: Callable[[PageOutcome], None] | None = None
    _keys: list[str] = field(default_factory=list)
    overlap: bool = True  # commit a group in the background while the next pages are fetched (one at a time)
    _bad: int = 0

    def __post_init__(self) -> None:
        self.result = SyncOutcome(self.source)  # what the run did so far (also after it raised)
        self._pool: ThreadPoolExecutor | None = None
        self._pending: Future[PageOutcome] | None = None

    @property
    def source(self) -> str:
        return f"{self.spec.name}.{self.endpoint.name}"

    def _look_back(self) -> timedelta:
        if self.parents is not None:
            return self.parents.look_back
        inc = self.endpoint.incremental
        return inc.look_back if inc is not None else timedelta(0)

    def _first(self, pos: ApiPosition, parent: str | None) -> PageRequest:
        since = pos.since if self.endpoint.incremental is not None and self.parents is None else None
        return first_request(self.spec.base_url, self.endpoint, since, parent)

    def _new_pass(self, pos: ApiPosition) -> ApiPosition:
        inc = self.endpoint.incremental
        if pos.run:
            since = pos.watermark(self._look_back())
        else:
            since = inc.initial if inc is not None and self.parents is None else None
        fresh = ApiPosition(pos.source, pos.run + 1, since)
        if self.parents is None:
            return replace(fresh, next=self._first(fresh, None))
        keys, stamps = parent_keys(self.parents.table(), self.parents.key, self.parents.updated, since)
        self._keys = keys
        fresh = fresh.seen(stamps)
        return replace(fresh, parent=keys[0], next=self._first(fresh, keys[0])) if keys else fresh

    def _after(self, pos: ApiPosition, nxt: PageRequest | None) -> ApiPosition:
        """The position once the page before ``nxt`` is committed (a child moves on to its next parent)."""
        if nxt is not None or self.parents is None or pos.parent is None:
            return replace(pos, next=nxt)
        if not self._keys:
            self._keys, _ = parent_keys(self.parents.table(), self.parents.key, self.parents.updated, pos.since)
        later = [k for k in self._keys if k > pos.parent]
        if not later:
            return replace(pos, next=None)
        return replace(pos, parent=later[0], next=self._first(pos, later[0]))

    def _fetch(self, pos: ApiPosition, req: PageRequest) -> tuple[ApiPosition, bool, Page | BadPage]:
        """Fetch the page ``req``: the position after it, and whether the pass may go on."""
        page = self.client.page(self.endpoint, req)
        self.result.pages += 1
        if isinstance(page, BadPage):
            numbered = self.endpoint.pagination.style in (PageStyle.OFFSET, PageStyle.PAGE)
            nxt = numbered_next(self.endpoint, req, None) if numbered else req
            holed = replace(pos, gaps=pos.gaps + 1)
            log.warning("API %s: a page of %s is not JSON; quarantined with its request", self.spec.name, req.url)
            self._bad += 1
            return (self._after(holed, nxt) if numbered else holed), numbered and self._bad < BAD_PAGES_IN_A_ROW, page
        self._bad = 0
        return self._after(pos.seen(self._stamps(page)), self._next(page, req)), True, page

    def _flush(self, group: Group, now: ApiPosition) -> None:
        """Commit the pages of ``group`` with ``now`` as the endpoint's position (nothing fetched: nothing)."""
        if now == group.start:
            return
        chunk = group_chunk(group.records, group.bad, self.sink.contract)
        self._settle()  # commits stay in order: the one before first
        if self._pool is None:
            self._report(self.sink.write(chunk, group.first, group.start, now))
        else:
            self._pending = self._pool.submit(self.sink.write, chunk, group.first, group.start, now)

    def _settle(self) -> None:
        """Wait for the commit in the background, if there is one (raising what it raised)."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self._report(pending.result())

    def _next(self, page: Page, req: PageRequest) -> PageRequest | None:
        return next_request(self.endpoint, req, page.body, page.links, len(page.records))

    def _stamps(self, page: Page) -> list[str]:
        inc = self.endpoint.incremental
        if inc is None or self.parents is not None:
            return []
        return [str(r[inc.field]) for r in page.records if isinstance(r, dict) and r.get(inc.field)]

    def _report(self, outcome: PageOutcome) -> None:
        self.result.add(outcome)
        if self.on_page is not None:
            self.on_page(outcome)

    def _pass(self, pos: ApiPosition) -> ApiPosition:
        """Fetch and commit pages from ``pos`` until the pass ends; the position after the last."""
        going, group = True, None
        while pos.next is not None and going:
            group = group or Group(pos, pos.next)
            try:
                pos, going, page = self._fetch(pos, pos.next)
            except SluiceError:
                self._flush(group, pos)  # the pages fetched before the error
                self._settle()
                raise
            if isinstance(page, BadPage):
                group.bad.append(page)
            else:
                group.records += page.records
            if group.bad or not going or pos.next is None or len(group.records) >= self.endpoint.commit_records:
                self._flush(group, pos)
                group = None
        if not going:
            self._settle()
            raise SourceError(
                f"API {self.spec.name}: a page of {self.endpoint.name} is not JSON and the pass cannot go on",
                hint="the page is in quarantine with its request; the next run resumes after the last page read",
            )
        return pos

    def run(self) -> SyncOutcome:
        """One pass (or the rest of one): see the module doc.

        Raises:
            SourceError: a page that cannot be read stops a cursor-paged pass (after its quarantine entry);
                and what :meth:`ApiClient.page` raises, after every earlier page is committed.
        """
        pos = read_position(self.sink.uri, self.source, self.sink.storage_options) or ApiPosition(self.source)
        if pos.complete:
            pos = self._new_pass(pos)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="api-commit") if self.overlap else None
        try:
            pos = self._pass(pos)
            self._settle()
        finally:
            if self._pool is not None:
                if self._pending is not None:
                    self._pending.exception()  # an error on the way out: the commit under way still ends
                self._pool.shutdown()
        self.result.complete = True
        self.result.position = f"pass {pos.run}, since {pos.since or 'the start'}"
        return self.result


def parents_of(spec: ApiSpec, endpoint: Endpoint, lake_root: str) -> Parents | None:
    """The parent dataset of a child endpoint (``None``: not a child)."""
    if endpoint.parent is None or endpoint.parent_key is None:
        return None
    parent = spec.endpoint(endpoint.parent)
    uri = table_uri(lake_root, parent.dataset)
    inc = parent.incremental
    return Parents(
        lambda: open_table(uri),
        endpoint.parent_key,
        inc.field if inc is not None else None,
        inc.look_back if inc is not None else timedelta(0),
    )
