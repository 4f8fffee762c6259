"""``ops doctor``'s API checks against the local OAuth2 + REST server."""

from __future__ import annotations

import time

import pytest

from ops.doctor.apis import check_apis
from ops.doctor.models import Status
from tests.apiserver import ApiServer
from tests.sluice.sources.api.apifixtures import CLIENT_ID, SECRET, DictSecrets, api_description, write_description


@pytest.fixture()
def server():
    with ApiServer(accounts=3) as srv:
        srv.add_client(CLIENT_ID, SECRET)
        yield srv


def _bearer(base_url: str) -> dict[str, object]:
    description = api_description(base_url)
    description["auth"] = {"style": "bearer", "secret": "crm_token"}
    return description


def test_an_oauth2_api_whose_client_gets_a_token_is_ok(tmp_path, server) -> None:
    write_description(tmp_path, api_description(server.url))

    [result] = check_apis(tmp_path, secrets=DictSecrets(crm_client_secret=SECRET))

    assert result.status is Status.OK and CLIENT_ID in result.detail


def test_a_refused_client_secret_fails_without_showing_it(tmp_path, server) -> None:
    write_description(tmp_path, api_description(server.url))

    [result] = check_apis(tmp_path, secrets=DictSecrets(crm_client_secret="stale-secret"))

    assert result.status is Status.FAIL and "invalid_client" in result.detail
    assert "stale-secret" not in f"{result.detail} {result.hint}"


def test_a_bearer_token_is_tried_on_the_first_endpoint(tmp_path, server) -> None:
    server.state.tokens["long-lived"] = time.time() + 3600
    write_description(tmp_path, _bearer(server.url))

    [good] = check_apis(tmp_path, secrets=DictSecrets(crm_token="long-lived"))
    [bad] = check_apis(tmp_path, secrets=DictSecrets(crm_token="revoked"))

    assert good.status is Status.OK and bad.status is Status.FAIL and "401" in bad.detail
    assert "revoked" not in f"{bad.detail} {bad.hint}"


def test_a_description_that_does_not_load_fails_naming_the_api(tmp_path) -> None:
    (tmp_path / "broken.yaml").write_text("name: broken\nbase_url: [\n")

    [result] = check_apis(tmp_path)

    assert result.status is Status.FAIL and result.name == "API broken"


def test_no_described_api_means_no_check(tmp_path) -> None:
    assert check_apis(tmp_path / "none") == []
