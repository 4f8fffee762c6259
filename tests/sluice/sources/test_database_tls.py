"""PostgreSQL over TLS with client certificates (``verify-full``): the right certificate reads, every wrong one
fails in one line that says what to do.

The server is a private cluster with ``ssl=on``, a certificate for 127.0.0.1 and localhost from a trustme CA, and
``hostssl ... cert`` in pg_hba.conf: a client must show a certificate of that CA whose CN is its user.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode

import pytest
import trustme

from sluice.errors import SluiceError
from sluice.sources.cdc import slots
from sluice.sources.cdc.errors import CdcUnreachableError
from sluice.sources.database import parse_url
from sluice.sources.database_read import describe
from sluice.sources.database_tls import DatabaseTlsError
from tests.pgcluster import ClusterOptions, PgCluster, running_cluster
from tests.sluice.sources.connfixtures import fill_table, lake_rows, snapshot_into_lake, source_rows
from tests.sluice.sources.dbfixtures import MARIADB_URL, contract, spec

TABLE = "orders_tls"


@dataclass(frozen=True)
class TlsServer:
    cluster: PgCluster
    certs: Path  # ca.pem, and <name>.pem / <name>.key per client certificate

    def url(self, host: str = "127.0.0.1", **params: str) -> str:
        query = {"sslmode": "verify-full", "sslrootcert": str(self.certs / "ca.pem"), **params}
        return f"postgresql://postgres@{host}:{self.cluster.port}/postgres?{urlencode(query)}"

    def client(self, name: str) -> dict[str, str]:
        return {"sslcert": str(self.certs / f"{name}.pem"), "sslkey": str(self.certs / f"{name}.key")}


def _write_client(folder: Path, name: str, cert: trustme.LeafCert) -> None:
    cert.cert_chain_pems[0].write_to_path(folder / f"{name}.pem")
    key = folder / f"{name}.key"
    cert.private_key_pem.write_to_path(key)
    key.chmod(0o600)  # libpq refuses a key others may read


def _certificates(folder: Path) -> dict[str, bytes]:
    """The client certificates into ``folder``; the server's files, for its data folder."""
    ca, other_ca = trustme.CA(), trustme.CA()
    ca.cert_pem.write_to_path(folder / "ca.pem")
    other_ca.cert_pem.write_to_path(folder / "other-ca.pem")
    _write_client(folder, "postgres", ca.issue_cert("postgres", common_name="postgres"))
    _write_client(folder, "stranger", other_ca.issue_cert("postgres", common_name="postgres"))
    _write_client(folder, "somebody", ca.issue_cert("somebody", common_name="somebody"))
    past = datetime.now(timezone.utc) - timedelta(days=30)
    expired = ca.issue_cert("postgres", common_name="postgres", not_before=past, not_after=past + timedelta(days=1))
    _write_client(folder, "expired", expired)
    server = ca.issue_cert("127.0.0.1", "localhost")
    return {
        "server.crt": server.cert_chain_pems[0].bytes(),
        "server.key": server.private_key_pem.bytes(),
        "ca.crt": ca.cert_pem.bytes(),
    }


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory) -> Iterator[TlsServer]:
    certs = tmp_path_factory.mktemp("certs")
    options = ClusterOptions(
        hba=("hostssl all all 127.0.0.1/32 cert", "host all all 127.0.0.1/32 reject"),
        files=_certificates(certs),
    )
    settings = {"ssl": "on", "ssl_cert_file": "server.crt", "ssl_key_file": "server.key", "ssl_ca_file": "ca.crt"}
    with running_cluster({**settings, "fsync": "off"}, options) as cluster:
        fill_table(cluster.socket_url(), TABLE, 400)
        yield TlsServer(cluster, certs)


def one_line(exc: SluiceError) -> None:
    message = str(exc).split("\n  hint: ")[0]
    assert "\n" not in message and exc.hint and "Traceback" not in str(exc)


def test_snapshot_with_the_users_client_certificate_equals_the_source(sluice_home, tls_server):
    url = parse_url(tls_server.url(**tls_server.client("postgres")))

    snapshot_into_lake(sluice_home, url, TABLE, f"tls-{uuid.uuid4().hex[:8]}")

    assert lake_rows(sluice_home) == source_rows(tls_server.cluster.socket_url(), TABLE)
    assert len(lake_rows(sluice_home)) == 400


@pytest.mark.parametrize(
    ("case", "needle", "hint"),
    [
        ("no client certificate", "requires a valid client certificate", "sslcert="),
        ("certificate of another CA", "unknown ca", "ssl_ca_file"),
        ("expired client certificate", "expired", "renew"),
        ("certificate of another user", "certificate authentication failed", "CN"),
        ("server checked against another CA", "certificate verify failed", "sslrootcert"),
        ("wrong host name", "does not match host name", "another host"),
        ("no TLS at all", "no encryption", "sslmode=verify-full"),
    ],
)
def test_a_wrong_certificate_fails_in_one_line_with_what_to_do(tls_server, case, needle, hint):
    params = {
        "no client certificate": {},
        "certificate of another CA": tls_server.client("stranger"),
        "expired client certificate": tls_server.client("expired"),
        "certificate of another user": tls_server.client("somebody"),
        "server checked against another CA": {
            **tls_server.client("postgres"),
            "sslrootcert": str(tls_server.certs / "other-ca.pem"),
        },
        "wrong host name": {**tls_server.client("postgres"), "hostaddr": "127.0.0.1"},
        "no TLS at all": {"sslmode": "disable"},
    }[case]
    host = "db.elsewhere.example" if case == "wrong host name" else "127.0.0.1"
    with pytest.raises(DatabaseTlsError) as err:
        describe(spec(tls_server.url(host, **params), contract(), table=TABLE))
    one_line(err.value)
    assert needle in str(err.value).lower() and hint in err.value.hint
    assert not err.value.transient


def test_a_missing_certificate_file_is_named(tls_server):
    url = tls_server.url(sslcert="/nonexistent/client.pem", sslkey="/nonexistent/client.key")
    with pytest.raises(DatabaseTlsError) as err:
        describe(spec(url, contract(), table=TABLE))
    one_line(err.value)
    assert "sslcert /nonexistent/client.pem is not a file" in str(err.value)


def test_change_capture_connects_with_the_client_certificate(tls_server):
    with slots.connect(tls_server.url(**tls_server.client("postgres"))) as conn:
        row = conn.execute("SELECT ssl, client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
    assert row is not None and row[0] is True and row[1].endswith("/CN=postgres")


def test_change_capture_without_a_client_certificate_is_a_tls_error_not_an_outage(tls_server):
    with pytest.raises(DatabaseTlsError) as err, slots.connect(tls_server.url()):
        pass
    one_line(err.value)
    assert not isinstance(err.value, CdcUnreachableError)


def test_mariadb_tls_required_by_the_url_is_refused_by_a_server_without_it():
    """The shared MariaDB runs without TLS: a URL that requires it must not fall back to plain TCP."""
    with pytest.raises(DatabaseTlsError) as err:
        describe(spec(f"{MARIADB_URL}?sslmode=require", contract(), table="orders"))
    one_line(err.value)
    assert "ssl is required" in str(err.value).lower()
