"""Principals from ID tokens of a real local issuer (Okta and Azure AD claim shapes); every bad token is one line."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.access.oidc import OidcVerifier
from sluice.errors import ConfigError, TokenError
from sluice.settings import AccessSettings
from tests.standins.oidc_issuer import AUDIENCE, TENANT, OidcIssuer, forged, new_key, running_issuer


@pytest.fixture(scope="module")
def okta() -> Iterator[OidcIssuer]:
    with running_issuer("/oauth2/default") as issuer:
        yield issuer


@pytest.fixture(scope="module")
def okta_verifier(okta: OidcIssuer) -> OidcVerifier:
    return OidcVerifier(AccessSettings(oidc_issuer=okta.issuer, oidc_audience=AUDIENCE))


def test_an_okta_token_maps_groups_and_profile_attributes(okta, okta_verifier):
    token = okta.okta_token(
        "00u1ana", groups=["analyst", "Everyone"], department="marketing", region="EU", clearance="Internal"
    )

    who = okta_verifier.principal(token)

    assert (who.subject, who.issuer, who.roles) == ("00u1ana", okta.issuer, frozenset({"analyst", "Everyone"}))
    assert (who.department, who.region, who.clearance, who.name) == ("marketing", "EU", "internal", "00u1ana (okta)")


def test_an_azure_ad_token_maps_app_roles_and_the_object_id():
    with running_issuer(f"/{TENANT}/v2.0") as azure:
        verifier = OidcVerifier(
            AccessSettings(
                oidc_issuer=azure.issuer,
                oidc_audience=AUDIENCE,
                subject_claim="oid",
                roles_claims=["roles"],
                department_claim="extn_department",
            )
        )
        token = azure.azure_token("9f1c-oid", roles=["crm-support"], extn_department="customer-care", groups=["g-1"])

        who = verifier.principal(token)

    assert (who.subject, who.roles, who.department) == ("9f1c-oid", frozenset({"crm-support"}), "customer-care")
    assert who.name == "9f1c-oid@contoso.example" and who.clearance is None


def test_the_jwks_is_fetched_once_for_many_tokens(okta, okta_verifier):
    before = okta.jwks_requests
    for n in range(5):
        okta_verifier.principal(okta.okta_token(f"u{n}", groups=["analyst"]))
    assert okta.jwks_requests - before <= 1


def _hostile(okta: OidcIssuer) -> dict[str, tuple[str, str]]:
    claims = okta.claims("mallory", groups=["privacy-officer"], clearance="restricted")
    header = {"alg": "RS256", "kid": okta.kid, "typ": "JWT"}
    return {
        "expired": (okta.sign(okta.claims("m", lifetime=-3600) | {"iat": int(time.time()) - 7200}), "has expired"),
        "wrong audience": (okta.sign(claims | {"aud": "another-app"}), "another audience"),
        "wrong issuer": (okta.sign(claims | {"iss": "https://evil.example/oauth2/default"}), "another issuer"),
        "alg none": (forged(header | {"alg": "none"}, claims, None), "'none', which is not allowed"),
        "HS256 keyed with the public key": (forged(header | {"alg": "HS256"}, claims, okta.public_pem()), "'HS256'"),
        "unknown kid": (okta.sign(claims, key=new_key(), kid="not-a-kid"), "kid) is not among"),
        "right kid, other key": (okta.sign(claims, key=new_key()), "signature does not verify"),
        "no exp": (okta.sign({k: v for k, v in claims.items() if k != "exp"}), "required claim is missing"),
        "garbage": ("not-a-token", "not a signed JWT"),
        "garbage in three parts": ("a.b.c", "header does not decode"),
        "empty": ("", "empty"),
        "a list of roles that is not a list of names": (okta.sign(claims | {"groups": [{"a": 1}]}), "not a list of"),
        "unknown clearance": (okta.sign(claims | {"clearance": "cosmic"}), "is not one of"),
    }


CASES = [
    "expired",
    "wrong audience",
    "wrong issuer",
    "alg none",
    "HS256 keyed with the public key",
    "unknown kid",
    "right kid, other key",
    "no exp",
    "garbage",
    "garbage in three parts",
    "empty",
    "a list of roles that is not a list of names",
    "unknown clearance",
]


@pytest.mark.parametrize("case", CASES)
def test_a_hostile_token_is_refused_in_one_line(okta, okta_verifier, case):
    token, reason = _hostile(okta)[case]

    with pytest.raises(TokenError) as caught:
        okta_verifier.principal(token)

    message = caught.value.args[0]
    assert reason in message and "\n" not in message
    assert token[:60] not in str(caught.value) or not token


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    header=st.dictionaries(st.sampled_from(["alg", "kid", "typ", "jku", "x5u"]), st.text(max_size=20) | st.integers()),
    body=st.binary(max_size=200),
    signature=st.binary(max_size=80),
)
def test_arbitrary_tokens_are_refused_with_a_token_error(okta, okta_verifier, header, body, signature):
    token = f"{_b64(json.dumps(header).encode())}.{_b64(body)}.{_b64(signature)}"
    with pytest.raises(TokenError):
        okta_verifier.principal(token)


def test_an_issuer_whose_discovery_names_another_issuer_is_refused(okta):
    verifier = OidcVerifier(AccessSettings(oidc_issuer=okta.issuer + "/", oidc_audience=AUDIENCE))
    with pytest.raises(TokenError, match="names another issuer"):
        verifier.principal(okta.okta_token("u", groups=[]))


def test_hmac_algorithms_cannot_be_configured():
    with pytest.raises(ValueError, match="not allowed"):
        AccessSettings(oidc_algorithms=["RS256", "HS256"])
    with pytest.raises(ConfigError, match="no OIDC issuer"):
        OidcVerifier(AccessSettings())
