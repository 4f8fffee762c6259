"""``ops lake query``: a governed read with an ID token from a real local issuer; bad input exits 1 or 2 in one line."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from sluice.access.audit import AccessAction, read_audit
from tests.ops.factories import invoke, sluice_home
from tests.sluice.access.factories import lake_customers
from tests.standins.oidc_issuer import AUDIENCE, OidcIssuer, forged, running_issuer


@pytest.fixture
def issuer() -> Iterator[OidcIssuer]:
    with running_issuer() as running:
        yield running


@pytest.fixture
def home(monkeypatch, tmp_path, issuer):
    settings = sluice_home(monkeypatch, tmp_path, access_oidc_issuer=issuer.issuer, access_oidc_audience=AUDIENCE)
    raw = lake_customers(settings, tmp_path, rows=120).to_pandas()
    return settings, raw


def test_a_support_agent_reads_masked_rows_of_their_region_as_json(home, issuer, tmp_path):
    settings, raw = home
    token = issuer.okta_token(
        "00u1cs", groups=["crm-support"], department="customer-care", region="CH", clearance="internal"
    )
    (tmp_path / "token").write_text(token + "\n", encoding="utf-8")

    result = invoke(
        "lake",
        "query",
        "customers",
        "--token-file",
        str(tmp_path / "token"),
        "--where",
        "country = 'CH'",
        "--columns",
        "customer_id,email,lifetime_value",
        "--reason",
        "ticket 4711",
        "-o",
        "json",
    )

    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    expected = raw[raw["country"].eq("CH")]
    assert body["rule"] == "crm-support-by-region" and len(body["rows"]) == len(expected) > 0
    assert sorted(r["customer_id"] for r in body["rows"]) == sorted(expected["customer_id"])
    assert all(r["lifetime_value"] is None and r["email"][2:].strip("*") == "" for r in body["rows"])
    [record] = read_audit(settings, action=AccessAction.READ)
    assert (record.subject, record.reason, record.where) == ("00u1cs", "ticket 4711", "country = 'CH'")


def test_the_table_fits_80_columns(home, issuer, monkeypatch):
    from ops.cli._utilities import console

    monkeypatch.setattr(console, "_width", 80)
    token = issuer.okta_token("00u1po", groups=["privacy-officer"], clearance="restricted")

    result = invoke("lake", "query", "customers", "--token", token, "--limit", "5")

    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    assert "customers: 5 row(s) for 00u1po (rule privacy-officers)" in result.stdout
    assert result.stdout.count("row 5") == 1 and "full_name" in result.stdout


@pytest.mark.parametrize(
    ("make_token", "where", "message"),
    [
        (lambda i: i.okta_token("u", groups=["analyst"], lifetime=-600), None, "has expired"),
        (lambda i: forged({"alg": "none", "kid": i.kid}, i.claims("u", groups=["analyst"]), None), None, "'none'"),
        (lambda i: i.okta_token("u", groups=["intern"]), None, "no rule of the customers policy"),
        (lambda i: i.okta_token("u", groups=["analyst"]), "email = 'a' OR 1=1; --", "unexpected character"),
        (lambda i: i.okta_token("u", groups=["analyst"]), "full_name = 'x'", "not available"),
        (lambda i: i.okta_token("u", groups=["analyst"]), "lifetime_value > 'lots'", "cannot run"),
    ],
)
def test_refusals_exit_1_with_one_error_line_and_no_traceback(home, issuer, make_token, where, message):
    args = ["lake", "query", "customers", "--token", make_token(issuer)]
    result = invoke(*args, *(["--where", where] if where else []))

    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0] and "Traceback" not in result.output


def test_no_token_or_two_tokens_is_a_usage_error(home, tmp_path):
    assert invoke("lake", "query", "customers").exit_code == 2
    (tmp_path / "t").write_text("x", encoding="utf-8")
    assert invoke("lake", "query", "customers", "--token", "x", "--token-file", str(tmp_path / "t")).exit_code == 2
