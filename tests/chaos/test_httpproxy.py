"""The HTTP fault proxy in front of the local OAuth2 + REST API (tests/apiserver.py) and an echo server: it
forwards requests and answers both ways (next links rewritten to lead through it), answers 429 with Retry-After
and then 500 of its own once armed, and forwards again once healed."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaos.httpproxy import HttpFaultProxy, HttpFaults
from ops.errors import ChaosError
from tests.apiserver import ApiServer

CLIENT_ID, SECRET = "sluice", "s3cret"


@pytest.fixture()
def server() -> Iterator[ApiServer]:
    with ApiServer(accounts=12) as srv:
        srv.add_client(CLIENT_ID, SECRET)
        yield srv


@pytest.fixture()
def proxy(server: ApiServer) -> Iterator[HttpFaultProxy]:
    with HttpFaultProxy(server.url) as found:
        yield found


def token(url: str) -> dict[str, str]:
    form = {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": SECRET}
    answer = httpx.post(f"{url}/oauth/token", data=form)
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def test_a_client_following_link_headers_pages_through_the_proxy_to_every_record(
    server: ApiServer, proxy: HttpFaultProxy
) -> None:
    headers = token(proxy.url)  # a POST, forwarded with its form
    url: str | None = f"{proxy.url}/v1/accounts_link?limit=5"
    seen: list[str] = []
    while url:
        page = httpx.get(url, headers=headers)
        assert page.status_code == 200 and url.startswith(proxy.url)
        seen += [r["account_id"] for r in page.json()["data"]["items"]]
        url = page.links.get("next", {}).get("url")

    assert sorted(seen) == sorted(server.state.accounts)
    assert proxy.stats.forwarded == 1 + 3 and proxy.stats.throttled == proxy.stats.failed == 0


def test_an_armed_proxy_answers_429_with_retry_after_then_500_until_healed(
    server: ApiServer, proxy: HttpFaultProxy
) -> None:
    headers = token(server.url)
    proxy.throttle_then_fail(1.0, after_requests=1)
    first = httpx.get(f"{proxy.url}/v1/accounts", headers=headers)
    throttled = httpx.get(f"{proxy.url}/v1/accounts", headers=headers)
    time.sleep(float(throttled.headers["Retry-After"]))  # as a client honouring it would
    failing = [httpx.get(f"{proxy.url}/v1/accounts", headers=headers).status_code for _ in range(3)]
    proxy.heal()
    healed = httpx.get(f"{proxy.url}/v1/accounts", headers=headers)

    assert first.status_code == 200 and throttled.status_code == 429 and throttled.headers["Retry-After"] == "1"
    assert failing == [500, 500, 500] and healed.status_code == 200
    assert (proxy.stats.forwarded, proxy.stats.throttled, proxy.stats.failed) == (2, 1, 3)
    assert len(server.api_requests()) == 2  # what the proxy answered itself never reached the API


def test_a_fixed_retry_after_is_sent_as_asked(server: ApiServer, proxy: HttpFaultProxy) -> None:
    proxy.throttle_then_fail(60, retry_after=7, fail_status=None)

    answer = httpx.get(f"{proxy.url}/v1/accounts")

    assert answer.status_code == 429 and answer.headers["Retry-After"] == "7"
    assert answer.json()["injected_by"] == "sluice chaos drill"


@pytest.mark.parametrize(
    "faults",
    [
        HttpFaults(throttle_seconds=-1),
        HttpFaults(retry_after=-0.5),
        HttpFaults(fail_status=404),
        HttpFaults(after_requests=-1),
        HttpFaults(throttle_seconds=float("inf")),
    ],
)
def test_faults_that_cannot_work_are_refused(faults: HttpFaults) -> None:
    with pytest.raises(ChaosError):
        faults.ensure_valid()


def test_an_upstream_that_is_not_http_is_refused() -> None:
    with pytest.raises(ChaosError, match="cannot proxy"):
        HttpFaultProxy("ftp://127.0.0.1:21")


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Path", self.path)
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def echo() -> Iterator[HttpFaultProxy]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    with HttpFaultProxy(f"http://127.0.0.1:{httpd.server_address[1]}") as found:
        yield found
    httpd.shutdown()
    httpd.server_close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=4096), segment=st.text(st.characters(codec="ascii", categories=["L", "N"]), max_size=30))
def test_any_body_and_path_go_through_byte_for_byte(echo: HttpFaultProxy, body: bytes, segment: str) -> None:
    answer = httpx.post(f"{echo.url}/echo/{segment}?q=1", content=body)

    assert answer.status_code == 200 and answer.content == body
    assert answer.headers["X-Path"] == f"/echo/{segment}?q=1"
