"""A stand-in OIDC issuer: a real HTTP server with a discovery document and a JWKS, signing with a throwaway key.

It serves ``/.well-known/openid-configuration`` (naming its issuer URL and
``/keys``) and ``/keys`` (the public RSA key, with its ``kid``). Tokens are
signed with RS256 and a key generated per issuer; the claim shapes mimic Okta
(``groups``, custom attribute claims) and Azure AD v2 (``roles``, ``oid``,
``tid``, ``preferred_username``, the tenant in the issuer URL). A test can
sign with another key or ``kid``, or build the tokens an attacker would
(``alg: none``, HS256 keyed with the public key) with :func:`forged`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

AUDIENCE = "sluice-cli"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class OidcIssuer:
    """The issuer at ``url`` + ``path`` (``/oauth2/default`` for Okta, ``/<tenant>/v2.0`` for Azure AD)."""

    path: str = "/oauth2/default"
    key: rsa.RSAPrivateKey = field(default_factory=new_key)
    kid: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    url: str = ""
    jwks_requests: int = 0

    @property
    def issuer(self) -> str:
        return self.url + self.path

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [jwk | {"kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def public_pem(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def claims(self, subject: str, *, lifetime: float = 600, **extra: Any) -> dict[str, Any]:
        now = int(time.time())
        return {"iss": self.issuer, "aud": AUDIENCE, "sub": subject, "iat": now, "exp": now + int(lifetime)} | extra

    def sign(self, claims: dict[str, Any], *, key: rsa.RSAPrivateKey | None = None, kid: str | None = None) -> str:
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid})

    def okta_token(self, subject: str, *, groups: list[str], lifetime: float = 600, **attributes: str) -> str:
        """An Okta ID token: group names in ``groups``, profile attributes as custom claims."""
        claims = self.claims(subject, lifetime=lifetime, groups=groups, name=f"{subject} (okta)", ver=1, **attributes)
        return self.sign(claims | {"idp": "00o1okta", "amr": ["pwd"], "auth_time": claims["iat"]})

    def azure_token(self, oid: str, *, roles: list[str], lifetime: float = 600, **attributes: str) -> str:
        """An Azure AD v2 ID token: app roles in ``roles``, the object id in ``oid`` (and a pairwise ``sub``)."""
        claims = self.claims(hashlib.sha256(oid.encode()).hexdigest()[:43], lifetime=lifetime, oid=oid, roles=roles)
        extra = {"tid": TENANT, "ver": "2.0", "preferred_username": f"{oid}@contoso.example", "nonce": "n"}
        return self.sign(claims | extra | attributes)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged(header: dict[str, Any], claims: dict[str, Any], secret: bytes | None) -> str:
    """A token with ``header`` as given: HMAC-SHA256-signed with ``secret``, or with no signature at all."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = _b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()) if secret else ""
    return f"{signing_input}.{signature}"


def _handler(issuer: OidcIssuer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path == issuer.path + "/.well-known/openid-configuration":
                body: dict[str, Any] = {
                    "issuer": issuer.issuer,
                    "jwks_uri": issuer.url + "/keys",
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                }
            elif self.path == "/keys":
                issuer.jwks_requests += 1
                body = issuer.jwks()
            else:
                self.send_error(404)
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@contextmanager
def running_issuer(path: str = "/oauth2/default") -> Iterator[OidcIssuer]:
    """An issuer serving on a free loopback port until the block ends."""
    issuer = OidcIssuer(path=path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(issuer))
    issuer.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield issuer
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
