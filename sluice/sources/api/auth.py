"""An API's credentials: an API key or bearer token, or an OAuth2 token renewed before it expires.

Secrets are looked up by name (:class:`NamedSecrets`): in ``SLUICE_API_SECRETS``
first, then in a Prefect Secret block of that name. They are read again whenever
a token is fetched and after every 401, so a rotated secret is picked up without
a restart; the old one keeps working for as long as the API accepts it (its
overlap window). OAuth2 tokens come from authlib's client (client credentials
or refresh token), renewed ``leeway_s`` before they expire and when the API
answers 401. Each renewal and each rotation picked up is logged and counted
(:class:`AuthEvents`); no secret or token is ever in a log line or an error.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from typing import Protocol

import httpx
from authlib.integrations.base_client.errors import OAuthError  # type: ignore[import-untyped]
from authlib.integrations.httpx_client import OAuth2Client  # type: ignore[import-untyped]

from sluice.errors import ApiAuthError
from sluice.settings import get_settings
from sluice.sources.api.spec import Auth, AuthStyle

log = logging.getLogger("sluice.api")


class Secrets(Protocol):
    def get(self, name: str) -> str: ...


class NamedSecrets:
    """A secret by name: ``SLUICE_API_SECRETS`` (a JSON object), else the Prefect Secret block of that name."""

    def get(self, name: str) -> str:
        found = get_settings().apis.api_secrets.get(name)
        if found is not None:
            return found.get_secret_value()
        from prefect.blocks.system import Secret

        try:
            block = Secret.load(name)
        except ValueError:
            raise ApiAuthError(
                f"secret {name!r} is in neither SLUICE_API_SECRETS nor a Prefect Secret block",
                hint=f"create the Secret block {name!r}, or add {name!r} to SLUICE_API_SECRETS",
            ) from None
        if not isinstance(block, Secret):
            raise TypeError("Secret.load returned an awaitable: called from async code")
        return str(block.get())


def fingerprint(secret: str) -> str:
    """A short digest that tells secrets apart in logs without revealing them."""
    return hashlib.sha256(secret.encode()).hexdigest()[:8]


@dataclass
class AuthEvents:
    """What the credentials did in a run: tokens fetched and renewed, rotations picked up, 401s answered."""

    fetched: int = 0
    refreshed: int = 0
    rotated: int = 0
    rejected: int = 0


@dataclass
class Credentials:
    """The headers that authenticate a request to the API described by ``auth``."""

    auth: Auth
    secrets: Secrets = field(default_factory=NamedSecrets)
    timeout_s: float = 30.0
    events: AuthEvents = field(default_factory=AuthEvents)
    clock: object = time.time

    def __post_init__(self) -> None:
        self._token: dict[str, object] | None = None
        self._static: str | None = None
        self._seen: dict[str, str] = {}  # secret name: fingerprint of the value last used
        self._refresh: str | None = None  # a refresh token the server rotated

    def _secret(self, name: str) -> str:
        value = self.secrets.get(name)
        if not value:
            raise ApiAuthError(f"secret {name!r} is empty", hint="store the credential in it")
        digest, before = fingerprint(value), self._seen.get(name)
        if before is not None and before != digest:
            self.events.rotated += 1
            log.info("API secret %r rotated: using the new value (%s, was %s)", name, digest, before)
        self._seen[name] = digest
        return value

    def headers(self) -> dict[str, str]:
        """The authentication headers for the next request (a token renewed first when it is due)."""
        style = self.auth.style
        if style is AuthStyle.NONE:
            return {}
        if style in (AuthStyle.API_KEY, AuthStyle.BEARER):
            if self._static is None:
                self._static = self._secret(str(self.auth.secret))
            if style is AuthStyle.API_KEY:
                return {self.auth.header: self._static}
            return {"Authorization": f"Bearer {self._static}"}
        return {"Authorization": f"Bearer {self._access_token()}"}

    def rejected(self) -> None:
        """The API answered 401: the secret is read again and the token renewed before the next request."""
        self.events.rejected += 1
        self._static, self._token = None, None
        log.info("API %s answered 401: credentials renewed before the next request", self.auth.style.value)

    def _due(self) -> bool:
        if self._token is None:
            return True
        expires = self._token.get("expires_at")
        now = self.clock()  # type: ignore[operator]
        return isinstance(expires, int | float) and now >= float(expires) - self.auth.leeway_s

    def _access_token(self) -> str:
        if self._due():
            renewing = self._token is not None
            self._token = self._fetch()
            if renewing:
                self.events.refreshed += 1
                log.info("OAuth2 token renewed before expiry (client %s)", self.auth.client_id)
            else:
                self.events.fetched += 1
        return str(self._token["access_token"]) if self._token else ""

    def _fetch(self) -> dict[str, object]:
        auth, url = self.auth, str(self.auth.token_url)
        secret = self._secret(auth.client_secret) if auth.client_secret else None
        client = OAuth2Client(
            client_id=auth.client_id,
            client_secret=secret,
            scope=auth.scope,
            token_endpoint_auth_method="client_secret_post" if secret else "none",
            timeout=self.timeout_s,
        )
        try:
            with client:
                if auth.style is AuthStyle.CLIENT_CREDENTIALS:
                    token = client.fetch_token(url, grant_type="client_credentials")
                else:
                    refresh = self._refresh or self._secret(str(auth.refresh_token))
                    token = client.refresh_token(url, refresh_token=refresh)
        except OAuthError as exc:
            self._refresh = None
            raise ApiAuthError(
                f"the token endpoint {url} refused client {auth.client_id!r}: {exc.error}",
                hint="the client secret or refresh token is wrong, expired or revoked: see runbook credentials-expired",
            ) from None
        except (httpx.HTTPError, ValueError, KeyError) as exc:  # no answer, or one that is no token
            raise ApiAuthError(
                f"no token from {url} for client {auth.client_id!r}: {type(exc).__name__}",
                hint="check the token endpoint is up and answers JSON",
            ) from None
        found = dict(token)
        if isinstance(found.get("refresh_token"), str):
            self._refresh = str(found["refresh_token"])
        return found
