"""An API description, its contracts, and a sync wired to a local lake, for the API source's tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from sluice.lake.frames import LeaseSpec
from sluice.sources.api.auth import Credentials
from sluice.sources.api.fetch import ApiClient
from sluice.sources.api.sink import ApiSink, PageOutcome
from sluice.sources.api.spec import ApiSpec
from sluice.sources.api.sync import EndpointSync, SyncOutcome, parents_of
from sluice.validate.contracts import Contract

CLIENT_ID, SECRET = "sluice", "first-secret"

ACCOUNTS = {
    "name": "crm_accounts",
    "owner": "crm@sluice.example",
    "freshness_sla": "1d",
    "primary_key": ["account_id"],
    "mode": "upsert",
    "order_by": "updated_at",
    "partition": {"column": "created_date"},
    "columns": [
        {"name": "account_id", "type": "string"},
        {"name": "name", "type": "string"},
        {"name": "tier", "type": "string", "nullable": True},
        {"name": "created_date", "type": "date"},
        {"name": "updated_at", "type": "timestamp", "criticality": "critical"},
    ],
}
CONTACTS = {
    "name": "crm_contacts",
    "owner": "crm@sluice.example",
    "freshness_sla": "1d",
    "primary_key": ["contact_id"],
    "partition": {"column": "created_date"},
    "columns": [
        {"name": "contact_id", "type": "string"},
        {"name": "account_id", "type": "string"},
        {"name": "email", "type": "string"},
        {"name": "created_date", "type": "date"},
    ],
}


def api_description(
    base_url: str,
    *,
    path: str = "/v1/accounts",
    style: str = "offset",
    limit: int = 10,
    rps: float = 50.0,
    commit_records: int = 1,
    **limits: object,
) -> dict[str, object]:
    pagination: dict[str, object] = {"style": style, "limit": limit}
    if style == "page":
        pagination["limit_param"] = "limit"
    if style == "cursor":
        pagination["cursor_path"] = "$.next_cursor"
    if style == "next_link":
        pagination["next_path"] = "$.links.next"
    return {
        "name": "crm",
        "base_url": base_url,
        "auth": {
            "style": "oauth2_client_credentials",
            "token_url": f"{base_url}/oauth/token",
            "client_id": CLIENT_ID,
            "client_secret": "crm_client_secret",
            "leeway_s": 1,
        },
        "limits": {"requests_per_second": rps, "backoff_s": 0.01, "backoff_max_s": 0.05, **limits},
        "endpoints": [
            {
                "name": "accounts",
                "path": path,
                "dataset": "crm_accounts",
                "records": "$.data.items",
                "pagination": pagination,
                "incremental": {"param": "updated_since", "field": "updated_at", "look_back": "5s"},
                "commit_records": commit_records,
            },
            {
                "name": "contacts",
                "path": "/v1/accounts/{parent}/contacts",
                "dataset": "crm_contacts",
                "records": "$.results",
                "pagination": {"style": "page", "limit": 2, "limit_param": "per_page"},
                "parent": "accounts",
                "parent_key": "account_id",
            },
        ],
    }


class DictSecrets:
    """Secrets held in a dict the test changes (a rotation)."""

    def __init__(self, **values: str) -> None:
        self.values = values
        self.reads = 0

    def get(self, name: str) -> str:
        self.reads += 1
        return self.values[name]


@dataclass
class Harness:
    spec: ApiSpec
    lake: Path
    secrets: DictSecrets

    def contract(self, dataset: str) -> Contract:
        return Contract.model_validate(ACCOUNTS if dataset == "crm_accounts" else CONTACTS)

    def client(self) -> ApiClient:
        return ApiClient(self.spec, Credentials(self.spec.auth, self.secrets))

    def sync(
        self,
        endpoint: str = "accounts",
        client: ApiClient | None = None,
        on_page: Callable[[PageOutcome], None] | None = None,
    ) -> SyncOutcome:
        found = self.spec.endpoint(endpoint)
        sink = ApiSink(
            self.contract(found.dataset),
            str(self.lake / "lake"),
            self.lake / "staging",
            str(self.lake / "quarantine"),
            LeaseSpec(),
        )
        own = client or self.client()
        try:
            parents = parents_of(self.spec, found, str(self.lake / "lake"))
            return EndpointSync(self.spec, found, own, sink, parents, on_page, overlap=on_page is None).run()
        finally:
            if client is None:
                own.close()


def harness(tmp_path: Path, base_url: str, **kw: object) -> Harness:
    spec = ApiSpec.model_validate(api_description(base_url, **kw))  # type: ignore[arg-type]
    return Harness(spec, tmp_path, DictSecrets(crm_client_secret=SECRET))


def write_description(folder: Path, description: dict[str, object]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{description['name']}.yaml"
    path.write_text(yaml.safe_dump(description), encoding="utf-8")
    return path


def lake_rows(lake: Path, dataset: str = "crm_accounts") -> list[dict[str, object]]:
    from deltalake import DeltaTable

    return DeltaTable(str(lake / "lake" / dataset)).to_pyarrow_table().to_pylist()


def quarantined(lake: Path) -> list[dict[str, object]]:
    from sluice.lake.quarantine import open_quarantine

    table = open_quarantine(str(lake / "quarantine"))
    return [] if table is None else table.to_pyarrow_table().to_pylist()


def page_requests(server_requests: list[tuple[float, str, int]]) -> int:
    return sum(1 for _, path, status in server_requests if status == 200)
