"""MariaDB over TLS with client certificates (``verify-full``): the right certificate reads, every wrong one fails in
one line that says what to do.

The server is a private mariadbd with a certificate for 127.0.0.1 and localhost from a trustme CA and
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

import pytest
import trustme
from cryptography import x509

from sluice.errors import SluiceError
from sluice.sources.database import DatabaseAuthError, parse_url
from sluice.sources.database_read import TableSpec, describe
from sluice.sources.database_tls import DatabaseTlsError
from tests.mariadbserver import MariaDbOptions, MariaDbServer, running_mariadb
from tests.sluice.sources.connfixtures import fill_maria_table, lake_rows, maria_source_rows, snapshot_into_lake
from tests.sluice.sources.dbfixtures import contract, spec

TABLE = "orders_tls"
DATABASE = "shop"
SERVER_TLS = (
    "--ssl-ca={root}/ca.pem",
    "--ssl-cert={root}/server.pem",
    "--ssl-key={root}/server.key",
    "--require-secure-transport=ON",
)


@dataclass(frozen=True)
class TlsServer:
    server: MariaDbServer
    certs: Path  # ca.pem, and <name>.pem / <name>.key per client certificate

    def url(self, host: str = "127.0.0.1", user: str = "app", **params: str) -> str:
        query = {"sslmode": "verify-full", "sslrootcert": str(self.certs / "ca.pem"), **params}
        return f"mysql://{user}@{host}:{self.server.port}/{DATABASE}?{urlencode(query)}"

    def client(self, name: str) -> dict[str, str]:
        return {"sslcert": str(self.certs / f"{name}.pem"), "sslkey": str(self.certs / f"{name}.key")}


def _write_client(folder: Path, name: str, cert: trustme.LeafCert) -> None:
    cert.cert_chain_pems[0].write_to_path(folder / f"{name}.pem")
    key = folder / f"{name}.key"
    cert.private_key_pem.write_to_path(key)
    key.chmod(0o600)


def subject(pem: Path) -> str:
    """A certificate's subject as MariaDB's ``REQUIRE SUBJECT`` spells it: ``/O=.../OU=.../CN=...``."""
    name = x509.load_pem_x509_certificate(pem.read_bytes()).subject
    return "".join(f"/{attr.rfc4514_attribute_name}={attr.value}" for attr in name)


def _certificates(folder: Path) -> dict[str, bytes]:
    """The client certificates into ``folder``; the server's files, for its folder."""
    ca, other_ca = trustme.CA(), trustme.CA()
    ca.cert_pem.write_to_path(folder / "ca.pem")
    other_ca.cert_pem.write_to_path(folder / "other-ca.pem")
    _write_client(folder, "app", ca.issue_cert("app", common_name="app"))
    _write_client(folder, "stranger", other_ca.issue_cert("app", common_name="app"))
    _write_client(folder, "somebody", ca.issue_cert("somebody", common_name="somebody"))
    past = datetime.now(timezone.utc) - timedelta(days=30)
    expired = ca.issue_cert("app", common_name="app", not_before=past, not_after=past + timedelta(days=1))
    _write_client(folder, "expired", expired)
    server = ca.issue_cert("127.0.0.1", "localhost")
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
        server.execute("CREATE USER 'app'@'%%' REQUIRE SUBJECT %s", (subject(certs / "app.pem"),))
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
    from sluice.sources.database_read import mariadb_connect

    conn = mariadb_connect(parse_url(tls_server.url(**tls_server.client("app"))))
    with conn, conn.cursor() as cur:
        cur.execute("SELECT CURRENT_USER(), VARIABLE_VALUE FROM information_schema.SESSION_STATUS "
                    "WHERE VARIABLE_NAME = 'SSL_VERSION'")
        user, version = cur.fetchone()
    assert user == "app@%" and version.startswith("TLSv1.")
