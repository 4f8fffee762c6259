"""Principals from OIDC ID tokens, verified against the issuer's JWKS.

The verifier reads the issuer's discovery document once
(``/.well-known/openid-configuration``), checks it names the configured
issuer, and verifies each token's signature with the key its ``kid`` names
in the JWKS (``PyJWKClient``, cached), accepting only the configured
asymmetric algorithms; then ``iss``, ``aud``, ``exp``, ``iat`` and ``sub``
are required and checked. Claims map to a :class:`Principal` by the claim
names of the settings (Okta sends ``groups``; Azure AD sends ``roles``).
Every failure is a :class:`TokenError` of one line; the token is never
repeated in it.

:class:`TokenVerifier` accepts the tokens of several issuers (say Okta for
employees and Azure AD for a subsidiary): it reads the token's ``iss``
unverified only to pick the issuer's :class:`OidcVerifier`, which then
verifies everything, ``iss`` included, with that issuer's keys and claim names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from pydantic import ValidationError

from sluice.access.principal import CLEARANCE_LEVELS, Principal
from sluice.errors import ConfigError, TokenError
from sluice.settings.access import ALLOWED_ALGORITHMS, AccessSettings

MAX_TOKEN_CHARS = 16 * 1024
MAX_ROLES = 256
DISCOVERY_PATH = "/.well-known/openid-configuration"
TOKEN_HINT = "sign in again to get a fresh ID token, and check it is one for Sluice (its audience)"


@dataclass
class OidcVerifier:
    """Verifies ID tokens of one issuer; keeps the JWKS client (and its key cache) between tokens."""

    settings: AccessSettings
    timeout: float = 10.0
    _client: jwt.PyJWKClient | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.settings.oidc_issuer or not self.settings.oidc_audience:
            raise ConfigError(
                "no OIDC issuer or audience is configured, so no token can be verified",
                hint="set SLUICE_ACCESS_OIDC_ISSUER and SLUICE_ACCESS_OIDC_AUDIENCE",
            )
        self.issuer: str = self.settings.oidc_issuer
        self.audience: str = self.settings.oidc_audience

    def jwks_client(self) -> jwt.PyJWKClient:
        if self._client is None:
            uri = self.settings.oidc_jwks_uri or self._discover_jwks_uri()
            self._client = jwt.PyJWKClient(uri, cache_jwk_set=True, lifespan=300, timeout=int(self.timeout) or 1)
        return self._client

    def _discover_jwks_uri(self) -> str:
        url = self.issuer.rstrip("/") + DISCOVERY_PATH
        try:
            response = httpx.get(url, timeout=self.timeout, follow_redirects=False)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise TokenError(
                f"cannot read the issuer's discovery document {url}: {type(exc).__name__}",
                hint="check SLUICE_ACCESS_OIDC_ISSUER and that the issuer is reachable",
            ) from None
        if not isinstance(document, dict) or document.get("issuer") != self.issuer:
            raise TokenError(
                f"the discovery document at {url} names another issuer",
                hint="SLUICE_ACCESS_OIDC_ISSUER must be the issuer exactly as the provider writes it",
            )
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
            raise TokenError(f"the discovery document at {url} has no jwks_uri", hint="set SLUICE_ACCESS_OIDC_JWKS_URI")
        return jwks_uri

    def claims(self, token: str) -> dict[str, Any]:
        """The verified claims of ``token``.

        Raises:
            TokenError: the token is malformed, signed with an algorithm not
                allowed or an unknown key, badly signed, expired, not yet
                valid, or for another issuer or audience.
        """
        algorithm = self._header_algorithm(token)
        try:
            key = self.jwks_client().get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError:
            raise TokenError(
                "cannot fetch the issuer's signing keys (JWKS)", hint="check the issuer is reachable"
            ) from None
        except (jwt.PyJWKClientError, jwt.DecodeError):
            raise TokenError(
                "the token's key id (kid) is not among the issuer's signing keys", hint=TOKEN_HINT
            ) from None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.settings.oidc_leeway_seconds,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise TokenError(f"the token is not valid: {_reason(exc)}", hint=TOKEN_HINT) from None
        return claims

    def _header_algorithm(self, token: object) -> str:
        if not isinstance(token, str) or not token.strip():
            raise TokenError("the token is empty", hint=TOKEN_HINT)
        if len(token) > MAX_TOKEN_CHARS or token.count(".") != 2:
            raise TokenError("the token is not a signed JWT (header.payload.signature)", hint=TOKEN_HINT)
        try:
            header = jwt.get_unverified_header(token.strip())
        except jwt.PyJWTError:
            raise TokenError("the token is not a signed JWT: its header does not decode", hint=TOKEN_HINT) from None
        algorithm = header.get("alg")
        allowed = set(self.settings.oidc_algorithms) & ALLOWED_ALGORITHMS
        if not isinstance(algorithm, str) or algorithm not in allowed:
            shown = ascii(algorithm)[:40]
            raise TokenError(
                f"the token is signed with algorithm {shown}, which is not allowed (allowed: {sorted(allowed)})",
                hint="only the issuer's asymmetric signatures are accepted",
            )
        return algorithm

    def principal(self, token: str) -> Principal:
        """The principal ``token`` names. Raises TokenError as :meth:`claims` does, or on unusable claims."""
        return principal_from_claims(self.claims(token), self.settings)


def _reason(exc: jwt.PyJWTError) -> str:
    reasons: list[tuple[type[jwt.PyJWTError], str]] = [
        (jwt.ExpiredSignatureError, "it has expired"),
        (jwt.ImmatureSignatureError, "it is not valid yet"),
        (jwt.InvalidAudienceError, "it is for another audience"),
        (jwt.InvalidIssuerError, "it is from another issuer"),
        (jwt.InvalidSignatureError, "its signature does not verify"),
        (jwt.MissingRequiredClaimError, "a required claim is missing"),
        (jwt.InvalidAlgorithmError, "its algorithm is not allowed"),
        (jwt.DecodeError, "it does not decode"),
    ]
    return next((text for kind, text in reasons if isinstance(exc, kind)), type(exc).__name__)


def _text(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 256:
        raise TokenError(f"claim {name[:40]!a} is not text of 1 to 256 characters", hint=TOKEN_HINT)
    return value


def _roles(claims: Mapping[str, Any], names: list[str]) -> frozenset[str]:
    roles: set[str] = set()
    for name in names:
        value = claims.get(name)
        values = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        if value is not None and not all(isinstance(v, str) and 0 < len(v) <= 256 for v in values):
            raise TokenError(f"claim {name[:40]!a} is not a list of role names", hint=TOKEN_HINT)
        roles.update(values)
    if len(roles) > MAX_ROLES:
        raise TokenError(f"the token carries more than {MAX_ROLES} roles", hint=TOKEN_HINT)
    return frozenset(roles)


def principal_from_claims(claims: Mapping[str, Any], settings: AccessSettings) -> Principal:
    """The principal of verified ``claims``, mapped by the claim names of ``settings``.

    Raises:
        TokenError: the subject is missing or a mapped claim has the wrong shape.
    """
    subject = _text(claims, settings.subject_claim)
    if subject is None:
        raise TokenError(f"the token has no {settings.subject_claim!r} claim to name its subject", hint=TOKEN_HINT)
    clearance = _text(claims, settings.clearance_claim)
    if clearance is not None and clearance.lower() not in CLEARANCE_LEVELS:
        raise TokenError(f"clearance {clearance[:40]!a} is not one of {list(CLEARANCE_LEVELS)}", hint=TOKEN_HINT)
    try:
        return Principal(
            subject=subject,
            issuer=str(claims.get("iss", "")),
            roles=_roles(claims, settings.roles_claims),
            department=_text(claims, settings.department_claim),
            region=_text(claims, settings.region_claim),
            clearance=clearance.lower() if clearance else None,  # type: ignore[arg-type]  # checked above
            name=_text(claims, "name") or _text(claims, "preferred_username"),
        )
    except ValidationError as exc:
        raise TokenError(
            f"the token's claims do not name a principal: {exc.errors()[0]['msg']}", hint=TOKEN_HINT
        ) from None


@dataclass
class TokenVerifier:
    """Verifies ID tokens of every trusted issuer (see the module doc); one :class:`OidcVerifier` per issuer."""

    settings: AccessSettings
    timeout: float = 10.0
    _by_issuer: dict[str, OidcVerifier] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        for one in self.settings.issuers():
            verifier = OidcVerifier(one, self.timeout)
            if verifier.issuer in self._by_issuer:
                raise ConfigError(
                    f"the OIDC issuer {verifier.issuer} is configured twice",
                    hint="list each issuer once in SLUICE_ACCESS_OIDC_ISSUER and SLUICE_ACCESS_OIDC_TRUSTED_ISSUERS",
                )
            self._by_issuer[verifier.issuer] = verifier
        if not self._by_issuer:
            raise ConfigError(
                "no OIDC issuer is configured, so no token can be verified",
                hint="set SLUICE_ACCESS_OIDC_ISSUER and SLUICE_ACCESS_OIDC_AUDIENCE",
            )

    @property
    def issuers(self) -> list[str]:
        return list(self._by_issuer)

    def _verifier(self, token: object) -> OidcVerifier:
        if len(self._by_issuer) == 1:  # the verifier says what is wrong with a token of another issuer
            return next(iter(self._by_issuer.values()))
        if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or token.count(".") != 2:
            raise TokenError("the token is not a signed JWT (header.payload.signature)", hint=TOKEN_HINT)
        try:
            unverified = jwt.decode(token.strip(), options={"verify_signature": False})
        except jwt.PyJWTError:
            raise TokenError("the token is not a signed JWT: its claims do not decode", hint=TOKEN_HINT) from None
        issuer = unverified.get("iss")
        found = self._by_issuer.get(issuer) if isinstance(issuer, str) else None
        if found is None:
            raise TokenError(
                f"the token's issuer {ascii(issuer)[:80]} is not trusted (trusted: {', '.join(self._by_issuer)})",
                hint="sign in with one of the trusted issuers, or ask to have the issuer added",
            )
        return found

    def claims(self, token: str) -> dict[str, Any]:
        """The verified claims of ``token``, by its issuer. Raises TokenError as :meth:`OidcVerifier.claims`."""
        return self._verifier(token).claims(token)

    def principal(self, token: str) -> Principal:
        """The principal ``token`` names, its claims mapped by its issuer's claim names."""
        return self._verifier(token).principal(token)
