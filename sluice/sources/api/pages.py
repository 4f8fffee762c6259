"""Pagination: the first page's request of an endpoint, and each next page's from the page before.

A :class:`PageRequest` is a URL and its query parameters; it is what a commit
records as the position of the next page, so a run that stops resumes with the
very request that comes after the last page committed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urljoin

from sluice.sources.api.spec import Endpoint, PageStyle, compiled


@dataclass(frozen=True)
class PageRequest:
    url: str
    params: dict[str, str] = field(default_factory=dict)

    def text(self) -> str:
        return json.dumps({"url": self.url, "params": self.params}, sort_keys=True, separators=(",", ":"))

    @classmethod
    def parse(cls, raw: Mapping[str, object]) -> PageRequest:
        params = raw.get("params")
        return cls(str(raw["url"]), {str(k): str(v) for k, v in dict(params or {}).items()})  # type: ignore[call-overload]


def endpoint_url(base_url: str, endpoint: Endpoint, parent: str | None) -> str:
    path = endpoint.path.replace("{parent}", parent) if parent is not None else endpoint.path
    return urljoin(base_url.rstrip("/") + "/", path.lstrip("/"))


def first_request(base_url: str, endpoint: Endpoint, since: str | None, parent: str | None = None) -> PageRequest:
    """The request of the endpoint's first page (records updated since ``since``, for ``parent``)."""
    params = dict(endpoint.params)
    pages = endpoint.pagination
    if endpoint.incremental is not None and since is not None:
        params[endpoint.incremental.param] = since
    if pages.style is PageStyle.OFFSET:
        params[pages.offset_param], params[pages.limit_param] = "0", str(pages.limit)
    elif pages.style is PageStyle.PAGE:
        params[pages.page_param], params[pages.limit_param] = str(pages.first_page), str(pages.limit)
    elif pages.style in (PageStyle.CURSOR, PageStyle.NEXT_LINK, PageStyle.LINK_HEADER):
        params[pages.limit_param] = str(pages.limit)
    return PageRequest(endpoint_url(base_url, endpoint, parent), params)


def _first_value(path: str, body: object) -> str | None:
    found = [m.value for m in compiled(path).find(body)]
    value = found[0] if found else None
    return None if value in (None, "") else str(value)


def numbered_next(endpoint: Endpoint, req: PageRequest, count: int | None) -> PageRequest | None:
    """Offset and page-number styles: the next page, known without the body (``count=None``: unknown, go on)."""
    pages = endpoint.pagination
    if count is not None and count < pages.limit:
        return None
    params = dict(req.params)
    if pages.style is PageStyle.OFFSET:
        params[pages.offset_param] = str(int(params.get(pages.offset_param, "0")) + pages.limit)
    elif pages.style is PageStyle.PAGE:
        params[pages.page_param] = str(int(params.get(pages.page_param, str(pages.first_page))) + 1)
    else:
        return None
    return PageRequest(req.url, params)


def next_request(
    endpoint: Endpoint, req: PageRequest, body: object, links: Mapping[str, Mapping[str, str]], count: int
) -> PageRequest | None:
    """The request after ``req``, whose answer was ``body`` with ``count`` records (``None``: it was the last)."""
    pages = endpoint.pagination
    if pages.style in (PageStyle.OFFSET, PageStyle.PAGE):
        return numbered_next(endpoint, req, count)
    if pages.style is PageStyle.CURSOR:
        cursor = _first_value(str(pages.cursor_path), body)
        if cursor is None or count == 0:
            return None
        return PageRequest(req.url, {**req.params, pages.cursor_param: cursor})
    if pages.style is PageStyle.NEXT_LINK:
        link = _first_value(str(pages.next_path), body)
        return None if link is None or count == 0 else PageRequest(urljoin(req.url, link), {})
    if pages.style is PageStyle.LINK_HEADER:
        link = links.get("next", {}).get("url")
        return None if not link or count == 0 else PageRequest(urljoin(req.url, link), {})
    return None
