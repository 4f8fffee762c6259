"""The drill's API source: an API the environment describes, behind an HTTP fault proxy, and what it holds.

An API drill disturbs an API named in the environment's settings: its
description ``<api>.yaml`` in ``SLUICE_APIS_DIR`` (with one description there,
the drill needs no name). The drill writes its own copy of the description,
under ``<drill folder>/apis/``, whose base URL is an
:class:`~chaos.httpproxy.HttpFaultProxy` in front of the API, with one
endpoint (the first without a parent, unless one is named) committed page by
page; the token endpoint is left as described, so a fault hits the API and not
its authorization server. ``ingest-api`` runs of the drill read that copy and
write the drill's own lake; the judge reads the API straight, through Sluice's
client with the environment's description, so a fault never blinds it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import yaml

from chaos.httpproxy import HttpFaultProxy
from ops.errors import ChaosError
from sluice.lake.table import open_table, table_uri
from sluice.settings import get_settings
from sluice.sources.api.spec import ApiSpec, Endpoint, find_api, list_apis
from sluice.validate.contracts import find_contract

if TYPE_CHECKING:
    from chaos.stack import DrillStack

DRILL_APIS = "apis"


def described_api(api: str | None = None) -> str:
    """The API the drill disturbs: ``api``, or the only one the environment describes."""
    root = get_settings().apis_root()
    names = list_apis(root)
    if api is not None:
        if api not in names:
            raise ChaosError(f"no API {api!r} is described in {root}", hint="SLUICE_APIS_DIR names the folder")
        return api
    if len(names) != 1:
        found = ", ".join(names) or "none"
        raise ChaosError(
            f"an API drill needs one API described in {root} or an api argument (found: {found})",
            hint="pass api: NAME to the drill's API actions and probes, or set SLUICE_APIS_DIR",
        )
    return names[0]


def top_endpoint(spec: ApiSpec, endpoint: str | None) -> Endpoint:
    """``endpoint`` of ``spec``, or its first endpoint without a parent."""
    if endpoint is not None:
        found = spec.endpoint(endpoint)
        if found.parent is not None:
            raise ChaosError(f"endpoint {endpoint} is a child of {found.parent}", hint="drill an endpoint of its own")
        return found
    for candidate in spec.endpoints:
        if candidate.parent is None:
            return candidate
    raise ChaosError(f"API {spec.name} has no endpoint without a parent", hint="describe one")  # pragma: no cover


@dataclass
class DrillApi:
    """One API of the drill: as the environment describes it, its fault proxy, and its endpoint's key."""

    spec: ApiSpec  # straight to the API: for the judge
    endpoint: Endpoint
    proxy: HttpFaultProxy
    folder: Path  # the drill's API descriptions (through the proxy)
    key: list[str]

    @property
    def source(self) -> str:
        return f"{self.spec.name}.{self.endpoint.name}"

    @property
    def dataset(self) -> str:
        return self.endpoint.dataset

    def proxied_base_url(self) -> str:
        return self.proxy.url + urlsplit(self.spec.base_url).path

    def write_description(self, original: Path) -> Path:
        """The drill's copy of the description: the base URL through the proxy, the endpoint committed per page."""
        raw: dict[str, Any] = yaml.safe_load(original.read_text(encoding="utf-8"))
        raw["base_url"] = self.proxied_base_url()
        (chosen,) = [e for e in raw["endpoints"] if e.get("name") == self.endpoint.name]
        chosen["commit_records"] = self.endpoint.pagination.limit
        raw["endpoints"] = [chosen]
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / original.name
        path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
        return path

    def held(self) -> Counter[tuple[object, ...]]:
        """The keys of every record the endpoint holds, read straight from the API (a first pass's worth)."""
        from sluice.sources.api.auth import Credentials
        from sluice.sources.api.fetch import ApiClient, Page
        from sluice.sources.api.pages import PageRequest, first_request, next_request

        inc = self.endpoint.incremental
        client = ApiClient(self.spec, Credentials(self.spec.auth, timeout_s=self.spec.limits.timeout_s))
        found: Counter[tuple[object, ...]] = Counter()
        try:
            req: PageRequest | None = first_request(self.spec.base_url, self.endpoint, inc.initial if inc else None)
            while req is not None:
                page = client.page(self.endpoint, req)
                if not isinstance(page, Page):
                    raise ChaosError(f"a page of {self.source} is not JSON", hint=f"the request: {req.url}")
                found.update(tuple(r.get(k) for k in self.key) for r in page.records if isinstance(r, dict))
                req = next_request(self.endpoint, req, page.body, page.links, len(page.records))
        finally:
            client.close()
        return found

    def landed(self, stack: DrillStack) -> Counter[tuple[object, ...]]:
        """The keys of every row of the endpoint's dataset in the drill's lake (none before its first commit)."""
        table = open_table(table_uri(str(stack.lake_root), self.dataset))
        if table is None:
            return Counter()
        columns = table.to_pyarrow_table(columns=self.key).to_pydict()
        return Counter(zip(*(columns[k] for k in self.key), strict=True))

    def close(self) -> None:
        self.proxy.stop()


def ensure_drill_api(stack: DrillStack, api: str | None = None, endpoint: str | None = None) -> DrillApi:
    """The drill's API (its fault proxy started, its description written) on first use; the same one after."""
    with stack.lock:
        found: DrillApi | None = next(iter(stack.apis.values()), None)
        if found is not None:
            if api not in (None, found.spec.name) or endpoint not in (None, found.endpoint.name):
                raise ChaosError(f"the drill already disturbs {found.source}", hint="one API endpoint per drill")
            return found
        settings = get_settings()
        name = described_api(api)
        spec = find_api(name, settings.apis_root())
        chosen = top_endpoint(spec, endpoint)
        key = list(find_contract(chosen.dataset, settings.contracts_root()).primary_key)
        proxy = HttpFaultProxy(spec.base_url).start()
        drill_api = DrillApi(spec, chosen, proxy, stack.root / DRILL_APIS, key)
        drill_api.write_description(settings.apis_root() / f"{name}.yaml")
        stack.apis[name] = drill_api
        return drill_api
