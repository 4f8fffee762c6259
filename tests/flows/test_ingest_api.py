"""The ingest-api flow on the Prefect test server: an OAuth2-protected, paginated, rate-limited API synced twice."""

from __future__ import annotations

from collections import Counter

import pytest
import yaml

from sluice.errors import ApiQuotaExhausted
from sluice.runs.metastore import engine_for, get_run
from sluice.settings import get_settings
from tests.apiserver import ApiServer
from tests.flows.helpers import lake_table
from tests.sluice.sources.api.apifixtures import ACCOUNTS, CLIENT_ID, CONTACTS, SECRET, api_description

pytestmark = pytest.mark.integration


@pytest.fixture()
def server():
    with ApiServer(accounts=30, contacts_per_account=2) as srv:
        srv.add_client(CLIENT_ID, SECRET)
        srv.state.rate = 15
        yield srv


@pytest.fixture()
def described(sluice_home, tmp_path, monkeypatch, server):
    contracts = tmp_path / "contracts"
    (contracts / "apis").mkdir(parents=True)
    for body in (ACCOUNTS, CONTACTS):
        (contracts / f"{body['name']}.yaml").write_text(yaml.safe_dump(body))
    description = api_description(server.url, rps=10, limit=7)
    (contracts / "apis" / "crm.yaml").write_text(yaml.safe_dump(description))
    monkeypatch.setenv("SLUICE_CONTRACTS_DIR", str(contracts))
    monkeypatch.setenv("SLUICE_API_SECRETS", f'{{"crm_client_secret": "{SECRET}"}}')
    return get_settings(fresh=True)


def test_two_runs_with_changes_between_leave_each_records_latest_version_once_within_the_budget(
    prefect_api, described, server
):
    from flows.ingest_api import ingest_api

    first = ingest_api("crm")
    server.touch("A000002", name="second version")
    server.add_account(contacts=2)
    server.expire_tokens()
    second = ingest_api("crm")

    accounts = lake_table("crm_accounts").to_pylist()
    assert Counter(r["account_id"] for r in accounts) == Counter({k: 1 for k in server.state.accounts})
    assert {r["account_id"]: r["name"] for r in accounts}["A000002"] == "second version"
    assert Counter(r["contact_id"] for r in lake_table("crm_contacts").to_pylist()).most_common(1)[0][1] == 1
    assert lake_table("crm_contacts").num_rows == 62
    assert server.state.over_rate == 0
    assert [r.status for r in first + second] == ["completed"] * 4
    with engine_for(get_settings().metadata_db_url()).connect() as conn:
        stored = get_run(conn, second[0].run_id)
    assert stored is not None and stored.rows_read == second[0].rows_read


def test_a_quota_exhausted_mid_run_fails_the_run_and_the_next_resumes(prefect_api, described, server):
    from flows.ingest_api import ingest_api

    server.state.quota, server.state.quota_limit = 3, 100

    with pytest.raises(ApiQuotaExhausted):
        ingest_api("crm", endpoints=["accounts"])
    server.state.quota = 100
    ingest_api("crm", endpoints=["accounts"])

    accounts = lake_table("crm_accounts").to_pylist()
    assert Counter(r["account_id"] for r in accounts) == Counter({k: 1 for k in server.state.accounts})
