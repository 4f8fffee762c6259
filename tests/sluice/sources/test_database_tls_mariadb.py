"""MariaDB over TLS with client certificates (``verify-full``): the right certificate reads, every wrong one fails in
one line that says what to do.

The server is a private mariadbd with a certificate for localhost and db.internal from a trustme CA and
``--require-secure-transport=ON``; the user ``app`` is created ``REQUIRE SUBJECT`` the subject of its certificate, so
it must show that certificate, signed by the CA the server trusts. ``plain`` has a password and no certificate.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode

import pymysql
import pytest
import trustme
from hypothesis import given, settings
from hypothesis import strategies as st

from sluice.errors import SluiceError
from sluice.sources.database import DatabaseAuthError, parse_url
from sluice.sources.database_connect import mariadb_connect
from sluice.sources.database_read import TableSpec, describe
from sluice.sources.database_tls import DatabaseTlsError, refused_client_certificate, tls_error
from tests.mariadbserver import MariaDbOptions, MariaDbServer, running_mariadb
from tests.sluice.sources.connfixtures import (
    fill_maria_table,
    lake_rows,
    maria_source_rows,
    snapshot_into_lake,
    write_client,
    x509_subject,
)
from tests.sluice.sources.dbfixtures import contract, spec

TABLE = "orders_tls"
DATABASE = "shop"
SERVER_TLS = (
    "--ssl-ca={root}/ca.pem",
    "--ssl-cert={root}/server.pem",
    "--ssl-key={root}/server.key",
    "--require-secure-transport=ON",
)


REFUSED_BY_THE_SERVER = ("certificate of another CA", "expired client certificate")


@dataclass(frozen=True)
class TlsServer:
    server: MariaDbServer
    certs: Path  # ca.pem, and <name>.pem / <name>.key per client certificate

    def url(self, host: str = "localhost", user: str = "app", **params: str) -> str:
        query = {"sslmode": "verify-full", "sslrootcert": str(self.certs / "ca.pem"), **params}
        return f"mysql://{user}@{host}:{self.server.port}/{DATABASE}?{urlencode(query)}"

    def client(self, name: str) -> dict[str, str]:
        return {"sslcert": str(self.certs / f"{name}.pem"), "sslkey": str(self.certs / f"{name}.key")}


def _certificates(folder: Path) -> dict[str, bytes]:
    """The client certificates into ``folder``; the server's files, for its folder."""
    ca, other_ca = trustme.CA(), trustme.CA()
    ca.cert_pem.write_to_path(folder / "ca.pem")
    other_ca.cert_pem.write_to_path(folder / "other-ca.pem")
    write_client(folder, "app", ca.issue_cert("app", common_name="app"))
    write_client(folder, "stranger", other_ca.issue_cert("app", common_name="app"))
    write_client(folder, "somebody", ca.issue_cert("somebody", common_name="somebody"))
    past = datetime.now(timezone.utc) - timedelta(days=30)
    expired = ca.issue_cert("app", common_name="app", not_before=past, not_after=past + timedelta(days=1))
    write_client(folder, "expired", expired)
    server = ca.issue_cert("localhost", "db.internal")  # not 127.0.0.1: the name checked is the URL's
    return {
        "server.pem": server.cert_chain_pems[0].bytes(),
        "server.key": server.private_key_pem.bytes(),
        "ca.pem": ca.cert_pem.bytes(),
    }


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory) -> Iterator[TlsServer]:
    certs = tmp_path_factory.mktemp("certs")
    options = MariaDbOptions(files=_certificates(certs), args=SERVER_TLS)
    with running_mariadb(options) as server:
        fill_maria_table(server, DATABASE, TABLE, 400)
        server.execute("CREATE USER 'app'@'%%' REQUIRE SUBJECT %s", (x509_subject(certs / "app.pem"),))
        server.execute("CREATE USER 'plain'@'%' IDENTIFIED BY 'pw'")
        for user in ("app", "plain"):
            server.execute(f"GRANT SELECT ON `{DATABASE}`.* TO '{user}'@'%'")
        yield TlsServer(server, certs)


def one_line(exc: SluiceError) -> None:
    message = str(exc).split("\n  hint: ")[0]
    assert "\n" not in message and exc.hint and "Traceback" not in str(exc)


def test_snapshot_with_the_users_client_certificate_equals_the_source(sluice_home, tls_server):
    url = parse_url(tls_server.url(**tls_server.client("app")))

    snapshot_into_lake(sluice_home, url, TABLE, f"tls-{uuid.uuid4().hex[:8]}")

    assert lake_rows(sluice_home) == maria_source_rows(tls_server.server, DATABASE, TABLE)
    assert len(lake_rows(sluice_home)) == 400


def test_the_connection_is_encrypted_with_the_client_certificate(tls_server):
    conn = mariadb_connect(parse_url(tls_server.url(**tls_server.client("app"))))
    with conn, conn.cursor() as cur:
        cur.execute(
            "SELECT CURRENT_USER(), VARIABLE_VALUE FROM information_schema.SESSION_STATUS "
            "WHERE VARIABLE_NAME = 'SSL_VERSION'"
        )
        user, version = cur.fetchone()
    assert user == "app@%" and version.startswith("TLSv1.")


def test_verify_full_checks_the_urls_host_when_the_socket_opens_elsewhere(tls_server):
    """As through a bastion: the socket goes to 127.0.0.1, the certificate (for db.internal) is checked against the
    URL's host, db.internal."""
    url = parse_url(tls_server.url("db.internal", **tls_server.client("app")))
    url = dataclasses.replace(url, port=1, connect_host="127.0.0.1", connect_port=tls_server.server.port)
    assert set(describe(TableSpec(url=url, contract=contract(), table=TABLE))) == set(contract().column_names)


@pytest.mark.parametrize(
    ("case", "needle", "hint"),
    [
        ("certificate of another CA", "unknown ca", "ssl_ca"),
        ("expired client certificate", "certificate expired", "renew"),
        ("server checked against another CA", "certificate verify failed", "sslrootcert"),
        ("wrong host name", "hostname mismatch", "another host"),
    ],
)
def test_a_failed_handshake_is_one_tls_error_with_what_to_do(tls_server, case, needle, hint):
    params = {
        "certificate of another CA": tls_server.client("stranger"),
        "expired client certificate": tls_server.client("expired"),
        "server checked against another CA": {
            **tls_server.client("app"),
            "sslrootcert": str(tls_server.certs / "other-ca.pem"),
        },
        "wrong host name": tls_server.client("app"),
    }[case]
    url = parse_url(tls_server.url("db.elsewhere.example" if case == "wrong host name" else "localhost", **params))
    if case == "wrong host name":  # the socket opens at 127.0.0.1, as through a tunnel; the URL's host is checked
        url = dataclasses.replace(url, connect_host="127.0.0.1", connect_port=tls_server.server.port)
    with pytest.raises(DatabaseTlsError) as err:
        describe(TableSpec(url=url, contract=contract(), table=TABLE))
    one_line(err.value)
    # Under TLS 1.3 the server refuses a client certificate after the client's handshake: the client reads the alert,
    # or only the closed connection.
    said = str(err.value).lower()
    assert needle in said or (case in REFUSED_BY_THE_SERVER and "refusing the client certificate" in said)
    assert hint in err.value.hint and not err.value.transient


@pytest.mark.parametrize(
    ("case", "hint"),
    [
        ("no client certificate", "sslcert=CERT.pem&sslkey=KEY.pem"),
        ("certificate of another user", "REQUIRE SUBJECT"),
        ("no TLS at all", "drop sslmode=disable"),
    ],
)
def test_a_login_mariadb_refuses_names_the_certificate_or_tls_in_its_hint(tls_server, case, hint):
    """MariaDB refuses these logins with 1045 "Access denied", the words of a wrong password."""
    url = {
        "no client certificate": tls_server.url(),
        "certificate of another user": tls_server.url(**tls_server.client("somebody")),
        "no TLS at all": f"mysql://plain:pw@127.0.0.1:{tls_server.server.port}/{DATABASE}?sslmode=disable",
    }[case]
    with pytest.raises(DatabaseAuthError) as err:
        describe(spec(url, contract(), table=TABLE))
    one_line(err.value)
    assert "access denied" in str(err.value).lower() and hint in err.value.hint
    assert not err.value.transient


def test_the_password_user_reads_over_tls_the_server_requires(tls_server):
    """The same login as the refused plain-TCP one above, over TLS: the refusal was the transport, not the password."""
    url = f"mysql://plain:pw@127.0.0.1:{tls_server.server.port}/{DATABASE}?sslmode=require"
    assert set(describe(spec(url, contract(), table=TABLE))) == set(contract().column_names)


def test_require_without_a_ca_encrypts_without_verifying(tls_server):
    query = urlencode({"sslmode": "require", **tls_server.client("app")})
    url = f"mysql://app@127.0.0.1:{tls_server.server.port}/{DATABASE}?{query}"
    assert set(describe(spec(url, contract(), table=TABLE))) == set(contract().column_names)


def test_a_missing_certificate_file_stops_before_connecting(tls_server):
    stopped = dataclasses.replace(tls_server, server=dataclasses.replace(tls_server.server, port=1))
    url = stopped.url(sslcert="/nonexistent/client.pem", sslkey="/nonexistent/client.key")
    with pytest.raises(DatabaseTlsError) as err:
        describe(spec(url, contract(), table=TABLE))
    one_line(err.value)
    assert "sslcert /nonexistent/client.pem is not a file" in str(err.value)


def test_a_login_the_server_closes_with_a_client_certificate_is_a_tls_error():
    """The other outcome of the TLS 1.3 race above, in the words PyMySQL used against this server."""
    closed = pymysql.err.OperationalError(
        2006, "MySQL server has gone away (SSLEOFError(8, 'EOF occurred in violation of protocol (_ssl.c:2427)'))"
    )
    err = refused_client_certificate(closed, "mariadb://app@db:3306/shop")
    assert err is not None and "refusing the client certificate" in str(err) and "renew" in err.hint
    one_line(err)
    assert refused_client_certificate(pymysql.err.OperationalError(1045, "Access denied"), "db") is None


@settings(max_examples=200, deadline=None)
@given(text=st.text(), code=st.integers(min_value=0, max_value=9999))
def test_any_driver_error_text_becomes_one_line_or_none(text, code):
    """Hostile driver messages: a TLS error is always one line with a hint, whatever the text holds."""
    exc = pymysql.err.OperationalError(code, text)
    for err in (refused_client_certificate(exc, "mariadb://app@db:3306/shop"), tls_error(exc, "db")):
        if err is not None:
            one_line(err)
