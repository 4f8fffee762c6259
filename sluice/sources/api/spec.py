"""The declarative description of a REST API: base URL, auth, limits and endpoints, read from YAML.

An API is described in ``<name>.yaml`` under the APIs folder (``SLUICE_APIS_DIR``,
by default ``apis/`` beside the contracts). Each endpoint names the dataset (contract)
its records land in, where the records are in a page (a JSONPath), how it pages,
and optionally an updated-since parameter with a look-back, or a parent endpoint
whose records it is fetched for (``{parent}`` in its path).
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from pathlib import Path

import yaml
from jsonpath_ng import JSONPath
from jsonpath_ng.exceptions import JSONPathError
from jsonpath_ng.ext.parser import parse as parse_path
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sluice.errors import ConfigError
from sluice.validate.contract_parts import DURATION, UNITS

NAME = r"^[a-z][a-z0-9_]{0,62}$"


class PageStyle(StrEnum):
    """How an endpoint's pages follow one another."""

    NONE = "none"  # one page
    OFFSET = "offset"  # ?offset=N&limit=L
    PAGE = "page"  # ?page=N&per_page=L
    CURSOR = "cursor"  # ?cursor=<the previous page's cursor (cursor_path)>
    NEXT_LINK = "next_link"  # the next page's URL in the body (next_path)
    LINK_HEADER = "link_header"  # the next page's URL in the Link header (rel="next")


class AuthStyle(StrEnum):
    NONE = "none"
    API_KEY = "api_key"  # the secret in a header (``header``)
    BEARER = "bearer"  # Authorization: Bearer <secret>
    CLIENT_CREDENTIALS = "oauth2_client_credentials"
    REFRESH_TOKEN = "oauth2_refresh_token"


def _path(value: str, what: str) -> str:
    try:
        parse_path(value)
    except JSONPathError as exc:
        raise ValueError(f"{what} {value!r} is not a JSONPath: {exc}") from None
    return value


def compiled(path: str) -> JSONPath:
    """``path`` compiled (validated when the description loaded)."""
    return parse_path(path)


def parse_duration(value: str) -> timedelta:
    match = DURATION.match(value)
    if not match:
        raise ValueError(f"{value!r} must look like 30s, 10m, 6h or 1d")
    return timedelta(**{UNITS[match.group(2)]: int(match.group(1))})


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Pagination(Strict):
    style: PageStyle = PageStyle.NONE
    limit: int = Field(100, ge=1, le=100_000)
    limit_param: str = "limit"
    offset_param: str = "offset"
    page_param: str = "page"
    first_page: int = 1
    cursor_param: str = "cursor"
    cursor_path: str | None = None  # where the next cursor is in the body (style cursor)
    next_path: str | None = None  # where the next page's URL is in the body (style next_link)

    @model_validator(mode="after")
    def _paths(self) -> Pagination:
        if self.style is PageStyle.CURSOR and not self.cursor_path:
            raise ValueError("pagination style cursor needs cursor_path (the JSONPath of the next cursor)")
        if self.style is PageStyle.NEXT_LINK and not self.next_path:
            raise ValueError("pagination style next_link needs next_path (the JSONPath of the next URL)")
        for what, found in (("cursor_path", self.cursor_path), ("next_path", self.next_path)):
            if found:
                _path(found, what)
        return self


class Incremental(Strict):
    """Only records updated since the last sync, less ``look_back`` (records updated while it ran)."""

    param: str  # the query parameter, e.g. updated_since
    field: str  # the record field holding its update time (ISO 8601), e.g. updated_at
    look_back: timedelta = timedelta(0)
    initial: str | None = None  # the first sync's value (None: the parameter is left out)

    @field_validator("look_back", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        return parse_duration(value) if isinstance(value, str) else value


class Endpoint(Strict):
    name: str = Field(pattern=NAME)
    path: str  # relative to base_url; {parent} is the parent record's key
    dataset: str = Field(pattern=NAME)
    records: str = "$[*]"  # JSONPath of the records in a page
    params: dict[str, str] = Field(default_factory=dict)
    pagination: Pagination = Field(default_factory=Pagination)
    incremental: Incremental | None = None
    parent: str | None = None  # the endpoint whose records this one is fetched for
    parent_key: str | None = None  # the column of the parent's dataset that fills {parent}
    commit_records: int = Field(5000, ge=1)  # pages are committed together until they hold this many records

    @field_validator("records")
    @classmethod
    def _records(cls, value: str) -> str:
        return _path(value, "records")

    @model_validator(mode="after")
    def _parent(self) -> Endpoint:
        if (self.parent is None) != (self.parent_key is None):
            raise ValueError(f"endpoint {self.name}: parent and parent_key go together")
        if self.parent is not None and "{parent}" not in self.path:
            raise ValueError(f"endpoint {self.name}: a child endpoint's path holds {{parent}}")
        return self


class Auth(Strict):
    style: AuthStyle = AuthStyle.NONE
    secret: str | None = None  # the API key or bearer token's secret name
    header: str = "X-API-Key"  # the header an API key goes in
    token_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None  # the client secret's secret name
    refresh_token: str | None = None  # the refresh token's secret name
    scope: str | None = None
    leeway_s: float = Field(30.0, ge=0)  # a token is renewed this long before it expires

    @model_validator(mode="after")
    def _complete(self) -> Auth:
        if self.style in (AuthStyle.API_KEY, AuthStyle.BEARER) and not self.secret:
            raise ValueError(f"auth {self.style.value} needs secret: the name of the secret holding it")
        if self.style is AuthStyle.CLIENT_CREDENTIALS and not (
            self.token_url and self.client_id and self.client_secret
        ):
            raise ValueError("auth oauth2_client_credentials needs token_url, client_id and client_secret")
        if self.style is AuthStyle.REFRESH_TOKEN and not (self.token_url and self.client_id and self.refresh_token):
            raise ValueError("auth oauth2_refresh_token needs token_url, client_id and refresh_token")
        return self


class Limits(Strict):
    requests_per_second: float = Field(5.0, gt=0)  # the client-side budget, every endpoint together
    max_retries: int = Field(6, ge=0)  # per request: 429, 503, a dropped connection, a malformed page
    backoff_s: float = Field(0.5, gt=0)  # the first backoff; doubled each retry, with full jitter
    backoff_max_s: float = Field(30.0, gt=0)
    max_wait_s: float = Field(120.0, ge=0)  # a Retry-After or quota reset further away fails the run
    daily_quota: int | None = Field(None, ge=1)  # requests a day, shared by every run (a Prefect concurrency limit)
    timeout_s: float = Field(30.0, gt=0)


class ApiSpec(Strict):
    name: str = Field(pattern=NAME)
    base_url: str
    auth: Auth = Field(default_factory=Auth)
    limits: Limits = Field(default_factory=Limits)
    endpoints: list[Endpoint] = Field(min_length=1)

    @model_validator(mode="after")
    def _parents(self) -> ApiSpec:
        names = [e.name for e in self.endpoints]
        if len(set(names)) != len(names):
            raise ValueError("endpoint names repeat")
        for i, endpoint in enumerate(self.endpoints):
            if endpoint.parent is not None and endpoint.parent not in names[:i]:
                raise ValueError(f"endpoint {endpoint.name}: parent {endpoint.parent!r} is not an endpoint above it")
        return self

    def endpoint(self, name: str) -> Endpoint:
        for endpoint in self.endpoints:
            if endpoint.name == name:
                return endpoint
        names = ", ".join(e.name for e in self.endpoints)
        raise ConfigError(f"API {self.name} has no endpoint {name!r}", hint=f"one of: {names}")


def load_api(path: Path) -> ApiSpec:
    """The API described in ``path``.

    Raises:
        ConfigError: the file does not exist, is not YAML, or does not describe an API.
    """
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return ApiSpec.model_validate(raw)
    except OSError as exc:
        raise ConfigError(f"cannot read API description {path}: {exc.strerror}", hint="check SLUICE_APIS_DIR") from None
    except (yaml.YAMLError, ValidationError, UnicodeDecodeError) as exc:
        raise ConfigError(f"API description {path} is invalid: {exc}", hint="see docs/sources/apis.md") from None


def find_api(name: str, root: Path) -> ApiSpec:
    """The API named ``name`` in the folder ``root``."""
    if not re.match(NAME, name):
        raise ConfigError(f"{name!r} is not an API name", hint="lower case letters, digits and _")
    return load_api(root / f"{name}.yaml")


def list_apis(root: Path) -> list[str]:
    """The API names described in ``root`` (none when it does not exist)."""
    return sorted(p.stem for p in root.glob("*.yaml")) if root.is_dir() else []
