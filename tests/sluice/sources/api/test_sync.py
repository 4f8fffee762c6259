"""Endpoint syncs against the local OAuth2 + REST server: pages, changes, faults, quotas and rotated secrets."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from pathlib import Path

import pytest

from sluice.errors import ApiAuthError, ApiQuotaExhausted, SourceError, SourceUnreachableError
from sluice.sources.api.sink import PageOutcome
from sluice.sources.api.spec import AuthStyle
from tests.apiserver import ApiServer
from tests.sluice.sources.api.apifixtures import CLIENT_ID, SECRET, harness, lake_rows, quarantined


@pytest.fixture()
def server():
    with ApiServer(accounts=25, contacts_per_account=3) as srv:
        srv.add_client(CLIENT_ID, SECRET)
        yield srv


def _once(action) -> object:
    """A page hook that runs ``action`` after the first page only."""
    done: list[int] = []

    def hook(_: PageOutcome) -> None:
        if not done:
            done.append(1)
            action()

    return hook


def _ids(lake: Path, dataset: str = "crm_accounts", key: str = "account_id") -> Counter[str]:
    return Counter(str(r[key]) for r in lake_rows(lake, dataset))


@pytest.mark.parametrize(
    ("path", "style"),
    [
        ("/v1/accounts", "offset"),
        ("/v1/accounts_page", "page"),
        ("/v1/accounts_cursor", "cursor"),
        ("/v1/accounts_next", "next_link"),
        ("/v1/accounts_link", "link_header"),
    ],
)
def test_every_pagination_style_reads_every_record_once(tmp_path, server, path: str, style: str) -> None:
    h = harness(tmp_path, server.url, path=path, style=style, limit=7)

    done = h.sync()

    assert done.complete and done.records == 25 and done.pages == 4
    assert _ids(tmp_path) == Counter({k: 1 for k in server.state.accounts})


def test_two_syncs_with_changes_between_keep_each_records_latest_version_once_within_the_budget(
    tmp_path, server
) -> None:
    server.state.rate = 12  # the API's own limit; the description's budget is 8 a second
    h = harness(tmp_path, server.url, rps=8)
    h.sync()
    server.touch("A000003", name="renamed")
    server.touch("A000010", tier="platinum")
    added = server.add_account(name="newcomer")

    second = h.sync()

    rows = {r["account_id"]: r for r in lake_rows(tmp_path)}
    assert _ids(tmp_path) == Counter({k: 1 for k in server.state.accounts})
    assert rows["A000003"]["name"] == "renamed" and rows["A000010"]["tier"] == "platinum"
    assert added in rows
    assert second.records < 25  # only what changed since the first sync, less the look-back
    assert server.state.over_rate == 0


def test_a_token_expiring_mid_run_is_renewed_and_the_sync_completes(tmp_path, server) -> None:
    h = harness(tmp_path, server.url, limit=5)
    client = h.client()

    done = h.sync(client=client, on_page=_once(server.expire_tokens))

    assert done.complete and len(_ids(tmp_path)) == 25
    assert client.credentials.events.rejected == 1
    assert server.state.tokens_issued == 2


def test_a_token_due_to_expire_is_renewed_before_the_api_refuses_it(tmp_path, server) -> None:
    server.state.token_ttl = 60
    h = harness(tmp_path, server.url, limit=5)
    client = h.client()
    now = [1_000_000_000.0]
    client.credentials.clock = lambda: now[0]
    client.credentials.headers()  # the first token, fetched at the real time: expires about a minute from now
    now[0] = 10_000_000_000.0  # and the clock says that is long past

    h.sync(client=client)

    assert client.credentials.events.refreshed >= 1
    assert client.credentials.events.rejected == 0


def test_a_rotated_client_secret_is_picked_up_mid_run_and_the_old_one_works_through_the_overlap(
    tmp_path, server, caplog
) -> None:
    h = harness(tmp_path, server.url, limit=5)
    client = h.client()

    def rotate() -> None:
        server.rotate(CLIENT_ID, "second-secret")  # the overlap: both work
        h.secrets.values["crm_client_secret"] = "second-secret"
        server.expire_tokens()

    with caplog.at_level(logging.INFO, logger="sluice.api"):
        done = h.sync(client=client, on_page=_once(rotate))
        server.rotate(CLIENT_ID, "second-secret", drop_old=True)  # the overlap ends
        server.touch("A000001", name="after the rotation")
        server.expire_tokens()
        h.sync(client=client)

    assert done.complete and client.credentials.events.rotated == 1
    assert {r["account_id"]: r["name"] for r in lake_rows(tmp_path)}["A000001"] == "after the rotation"
    assert "rotated" in caplog.text
    assert "second-secret" not in caplog.text and SECRET not in caplog.text


def test_a_secret_the_token_endpoint_refuses_fails_clearly_without_showing_it(tmp_path, server, caplog) -> None:
    server.rotate(CLIENT_ID, "vendor-side-secret", drop_old=True)
    h = harness(tmp_path, server.url)

    with caplog.at_level(logging.DEBUG), pytest.raises(ApiAuthError) as failed:
        h.sync()

    assert "invalid_client" in str(failed.value) and CLIENT_ID in str(failed.value)
    assert SECRET not in str(failed.value) and SECRET not in caplog.text


def test_a_quota_exhausted_mid_run_fails_clearly_and_the_next_run_resumes_without_asking_twice(
    tmp_path, server
) -> None:
    server.state.quota, server.state.quota_limit = 2, 100
    h = harness(tmp_path, server.url, limit=5)

    with pytest.raises(ApiQuotaExhausted, match="longer than the run may wait"):
        h.sync()
    assert len(_ids(tmp_path)) == 10  # the two pages the quota allowed, committed
    server.state.quota = 100
    h.sync()

    assert _ids(tmp_path) == Counter({k: 1 for k in server.state.accounts})
    offsets = [p for _, p, status in server.state.requests if status == 200 and p == "/v1/accounts"]
    assert len(offsets) == 6  # 25 records in pages of 5, and the empty page after: none asked twice


def test_a_429_with_retry_after_is_waited_out(tmp_path, server) -> None:
    h = harness(tmp_path, server.url, limit=5)
    client = h.client()

    done = h.sync(client=client, on_page=_once(lambda: server.fault("/v1/accounts", "429", 2, retry_after=0.2)))

    assert done.complete and len(_ids(tmp_path)) == 25
    assert client.server.throttled == 2 and client.server.waited_s >= 0.4


def test_an_api_answering_429_on_every_retry_stops_the_run_and_the_next_resumes(tmp_path, server) -> None:
    h = harness(tmp_path, server.url, limit=5, max_retries=2)

    with pytest.raises(ApiQuotaExhausted, match="kept answering HTTP 429"):
        h.sync(on_page=_once(lambda: server.fault("/v1/accounts", "429", 3)))
    h.sync()

    assert _ids(tmp_path) == Counter({k: 1 for k in server.state.accounts})


def test_a_malformed_page_is_quarantined_with_the_request_that_produced_it(tmp_path, server) -> None:
    h = harness(tmp_path, server.url, limit=10)

    done = h.sync(on_page=_once(lambda: server.fault("/v1/accounts", "malformed", times=2)))

    entries = quarantined(tmp_path)
    assert done.quarantined == 1 and len(entries) == 1
    raw = dict(entries[0]["record"])["_raw"]
    assert '"offset": "10"' in raw and "/v1/accounts" in raw and entries[0]["reason"] == "malformed_json"
    assert len(_ids(tmp_path)) == 15


def test_the_records_of_a_malformed_page_come_with_the_next_sync(tmp_path, server) -> None:
    h = harness(tmp_path, server.url, limit=10)
    h.sync(on_page=_once(lambda: server.fault("/v1/accounts", "malformed", times=2)))

    h.sync()

    assert _ids(tmp_path) == Counter({k: 1 for k in server.state.accounts})


def test_a_malformed_cursor_page_stops_the_pass_and_the_next_run_asks_for_it_again(tmp_path, server) -> None:
    h = harness(tmp_path, server.url, path="/v1/accounts_cursor", style="cursor", limit=10)

    with pytest.raises(SourceError, match="not JSON"):
        h.sync(on_page=_once(lambda: server.fault("/v1/accounts_cursor", "malformed", times=2)))
    h.sync()

    assert _ids(tmp_path) == Counter({k: 1 for k in server.state.accounts})
    assert len(quarantined(tmp_path)) == 1


def test_a_connection_dropped_mid_page_is_retried_and_nothing_is_lost(tmp_path, server) -> None:
    h = harness(tmp_path, server.url, limit=5)
    client = h.client()

    done = h.sync(client=client, on_page=_once(lambda: server.fault("/v1/accounts", "drop", 2)))

    assert done.complete and client.retries == 2
    assert _ids(tmp_path) == Counter({k: 1 for k in server.state.accounts})
    assert not quarantined(tmp_path)


def test_a_child_endpoint_reads_each_parents_records(tmp_path, server) -> None:
    h = harness(tmp_path, server.url)
    h.sync()

    done = h.sync("contacts")

    assert done.complete and done.records == 75
    contacts = _ids(tmp_path, "crm_contacts", "contact_id")
    assert len(contacts) == 75 and set(contacts.values()) == {1}


def test_a_child_endpoints_next_pass_reads_only_the_parents_updated_since(tmp_path, server) -> None:
    h = harness(tmp_path, server.url)
    h.sync()
    h.sync("contacts")
    server.touch("A000004", name="moved")
    h.sync()

    again = h.sync("contacts")

    assert again.records < 75  # the updated parent and those within the look-back, not every parent
    assert set(_ids(tmp_path, "crm_contacts", "contact_id").values()) == {1}


def test_two_syncs_of_one_endpoint_at_once_write_each_record_once(tmp_path, server) -> None:
    h = harness(tmp_path, server.url, limit=3)
    failures: list[BaseException] = []

    def run() -> None:
        try:
            h.sync()
        except BaseException as exc:  # noqa: BLE001  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert not [f for f in failures if not isinstance(f, SourceError)], failures
    h.sync()
    assert _ids(tmp_path) == Counter({k: 1 for k in server.state.accounts})


def test_the_refresh_token_flow_keeps_the_rotated_refresh_token_across_renewals(tmp_path, server) -> None:
    h = harness(tmp_path, server.url, limit=5)
    auth = h.spec.auth.model_copy(update={"style": AuthStyle.REFRESH_TOKEN, "refresh_token": "crm_refresh"})
    h.spec = h.spec.model_copy(update={"auth": auth})
    first = server.issue_refresh_token()
    h.secrets.values["crm_refresh"] = first
    client = h.client()

    done = h.sync(client=client, on_page=_once(server.expire_tokens))

    assert done.complete and len(_ids(tmp_path)) == 25
    assert server.state.tokens_issued == 2  # the second from the refresh token the first answer rotated
    assert first not in server.state.refresh_tokens


def test_an_api_throttling_then_failing_with_500s_stops_the_run_clearly_and_the_next_resumes(tmp_path, server) -> None:
    h = harness(tmp_path, server.url, limit=5, max_retries=3)

    def degrade() -> None:
        server.fault("/v1/accounts", "429", 2, retry_after=0.1)  # throttled for a while...
        server.fault("/v1/accounts", "500", 10)  # ...then failing

    with pytest.raises(SourceUnreachableError, match="last HTTP 500"):
        h.sync(on_page=_once(degrade))
    committed = len(_ids(tmp_path))
    server.state.faults.clear()
    h.sync()

    assert committed == 5
    assert _ids(tmp_path) == Counter({k: 1 for k in server.state.accounts})
