"""Several trusted issuers: each token is verified by the issuer it names, with that issuer's keys and claims."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from sluice.access.oidc import TokenVerifier
from sluice.errors import ConfigError, TokenError
from sluice.settings import AccessSettings
from sluice.settings.access import TrustedIssuer
from tests.standins.oidc_issuer import AUDIENCE, TENANT, OidcIssuer, running_issuer


@pytest.fixture(scope="module")
def issuers() -> Iterator[tuple[OidcIssuer, OidcIssuer]]:
    with running_issuer("/oauth2/default") as okta, running_issuer(f"/{TENANT}/v2.0") as azure:
        yield okta, azure


def _both(okta: OidcIssuer, azure: OidcIssuer) -> AccessSettings:
    azure_ad = TrustedIssuer(issuer=azure.issuer, audience=AUDIENCE, subject_claim="oid", roles_claims=["roles"])
    return AccessSettings(oidc_issuer=okta.issuer, oidc_audience=AUDIENCE, oidc_trusted_issuers=[azure_ad])


def test_tokens_of_each_trusted_issuer_map_by_that_issuers_claim_names(issuers):
    okta, azure = issuers
    verifier = TokenVerifier(_both(okta, azure))

    employee = verifier.principal(okta.okta_token("00u1ana", groups=["analyst"]))
    partner = verifier.principal(azure.azure_token("9f1c-oid", roles=["crm-support"], groups=["g-1"]))

    assert (employee.issuer, employee.subject, employee.roles) == (okta.issuer, "00u1ana", frozenset({"analyst"}))
    assert (partner.issuer, partner.subject, partner.roles) == (azure.issuer, "9f1c-oid", frozenset({"crm-support"}))


def test_a_token_of_an_issuer_nobody_trusts_is_refused_naming_it(issuers):
    okta, azure = issuers
    with running_issuer("/stranger") as stranger:
        token = stranger.okta_token("intruder", groups=["admin"])
    with pytest.raises(TokenError, match="/stranger' is not trusted") as refused:
        TokenVerifier(_both(okta, azure)).principal(token)
    assert token not in str(refused.value)


def test_a_token_naming_one_issuer_but_signed_by_another_is_refused(issuers):
    okta, azure = issuers
    claims = okta.claims("00u1ana", groups=["admin"])
    token = azure.sign(claims)  # Azure's key, Okta's iss: Okta's keys do not hold Azure's kid

    with pytest.raises(TokenError, match="key id"):
        TokenVerifier(_both(okta, azure)).principal(token)


def test_an_issuer_listed_twice_or_none_at_all_is_a_configuration_error(issuers):
    okta, _azure = issuers
    twice = AccessSettings(
        oidc_issuer=okta.issuer,
        oidc_audience=AUDIENCE,
        oidc_trusted_issuers=[TrustedIssuer(issuer=okta.issuer, audience="other")],
    )
    with pytest.raises(ConfigError, match="configured twice"):
        TokenVerifier(twice)
    with pytest.raises(ConfigError, match="no OIDC issuer"):
        TokenVerifier(AccessSettings())


def test_only_trusted_issuers_configured_is_enough(issuers):
    _okta, azure = issuers
    only = AccessSettings(oidc_trusted_issuers=[TrustedIssuer(issuer=azure.issuer, audience=AUDIENCE)])
    verifier = TokenVerifier(only)
    assert verifier.issuers == [azure.issuer]
    assert verifier.principal(azure.azure_token("x", roles=[])).issuer == azure.issuer


@pytest.mark.parametrize("algorithms", [["HS256"], ["none"], []])
def test_a_trusted_issuer_with_a_symmetric_or_no_algorithm_is_refused(algorithms):
    with pytest.raises(ValueError, match="not allowed"):
        TrustedIssuer(issuer="https://idp.test", audience="sluice", algorithms=algorithms)


def test_the_trusted_issuers_are_read_from_json_in_the_environment(monkeypatch):
    from sluice.settings import get_settings

    value = [{"issuer": "https://idp.test/v2.0", "audience": "sluice", "subject_claim": "oid"}]
    monkeypatch.setenv("SLUICE_ACCESS_OIDC_TRUSTED_ISSUERS", json.dumps(value))
    try:
        (one,) = get_settings(fresh=True).access.issuers()
    finally:
        monkeypatch.delenv("SLUICE_ACCESS_OIDC_TRUSTED_ISSUERS")
        get_settings(fresh=True)
    assert (one.oidc_issuer, one.oidc_audience, one.subject_claim) == ("https://idp.test/v2.0", "sluice", "oid")
