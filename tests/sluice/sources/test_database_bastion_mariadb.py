"""MariaDB only an SSH bastion reaches, over TLS with a client certificate: no direct route, and a tunneled
``verify-full`` snapshot equal to the source, the server's certificate checked against the database's own address.

The far side is :func:`tests.sluice.sources.bastion.far_side`'s namespaces; the database is a private mariadbd
(:mod:`tests.mariadbserver`) inside the db namespace with ``--require-secure-transport=ON`` and a certificate for
its address only, so a check against the tunnel's 127.0.0.1 would fail.
"""

from __future__ import annotations

import dataclasses
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest
import trustme

from chaos.pgserver import free_port
from sluice.sources.database import DatabaseUnreachableError, parse_url
from sluice.sources.database_read import TableSpec, describe
from sluice.sources.database_tunnel import TunnelOptions, tunneled
from tests.mariadbserver import MariaDbOptions, MariaDbServer, running_mariadb
from tests.sluice.sources.bastion import SSH_PORT, FarSide, far_side
from tests.sluice.sources.connfixtures import (
    fill_maria_table,
    lake_rows,
    maria_source_rows,
    snapshot_into_lake,
    write_client,
    x509_subject,
)
from tests.sluice.sources.dbfixtures import contract, spec

TABLE = "orders_far"
DATABASE = "shop"


@dataclass(frozen=True)
class FarMariaDb:
    far: FarSide
    server: MariaDbServer  # listens on far.db_host inside the db namespace; its Unix socket works from here
    certs: Path

    def url(self, tunnel: bool = True) -> str:
        query = {
            "sslmode": "verify-full",
            "sslrootcert": str(self.certs / "ca.pem"),
            "sslcert": str(self.certs / "app.pem"),
            "sslkey": str(self.certs / "app.key"),
        }
        if tunnel:
            query |= {"ssh_host": self.far.bastion_host, "ssh_port": str(SSH_PORT), "ssh_user": "root"}
            query |= {"ssh_key": str(self.far.key)}
        return f"mysql://app@{self.far.db_host}:{self.server.port}/{DATABASE}?{urlencode(query)}"


@pytest.fixture(scope="module")
def far_maria(tmp_path_factory) -> Iterator[FarMariaDb]:
    certs = tmp_path_factory.mktemp("certs")
    with far_side() as far:
        ca = trustme.CA()
        ca.cert_pem.write_to_path(certs / "ca.pem")
        write_client(certs, "app", ca.issue_cert("app", common_name="app"))
        cert = ca.issue_cert(far.db_host)
        files = {"ca.pem": ca.cert_pem.bytes(), "server.pem": cert.cert_chain_pems[0].bytes()}
        files["server.key"] = cert.private_key_pem.bytes()
        tls = ("--ssl-ca={root}/ca.pem", "--ssl-cert={root}/server.pem", "--ssl-key={root}/server.key")
        options = MariaDbOptions(far.db_host, far.db_ns, files, (*tls, "--require-secure-transport=ON"))
        with running_mariadb(options) as server:
            fill_maria_table(server, DATABASE, TABLE, 300)
            server.execute("CREATE USER 'app'@'%%' REQUIRE SUBJECT %s", (x509_subject(certs / "app.pem"),))
            server.execute(f"GRANT SELECT ON `{DATABASE}`.* TO 'app'@'%'")
            yield FarMariaDb(far, server, certs)


def test_the_database_is_not_reachable_directly(far_maria):
    with pytest.raises(DatabaseUnreachableError) as err:
        describe(spec(far_maria.url(tunnel=False), contract(), table=TABLE))
    assert "\n" not in str(err.value).split("\n  hint: ")[0] and err.value.hint
    assert "no route to host" in str(err.value).lower() and err.value.transient


def test_a_verify_full_snapshot_through_the_bastion_equals_the_source(sluice_home, far_maria):
    url = parse_url(far_maria.url())
    options = TunnelOptions(known_hosts=str(far_maria.far.known_hosts), timeout_s=5)

    with tunneled(url, options) as through:
        assert (through.connect_host, through.host) == ("127.0.0.1", far_maria.far.db_host)
        snapshot_into_lake(sluice_home, through, TABLE, f"far-{uuid.uuid4().hex[:8]}", parts=3)
        local_port = through.connect_port

    assert lake_rows(sluice_home) == maria_source_rows(far_maria.server, DATABASE, TABLE)
    assert len(lake_rows(sluice_home)) == 300
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", local_port), timeout=2):
        pass  # the forward is closed with its run


def test_a_closed_forward_is_unreachable_not_a_driver_traceback():
    """No fixture: the forward's port is closed, as after its tunnel ends."""
    url = dataclasses.replace(parse_url("mysql://app@db.internal:3306/shop"), connect_host="127.0.0.1")
    url = dataclasses.replace(url, connect_port=free_port())
    with pytest.raises(DatabaseUnreachableError) as err:
        describe(TableSpec(url=url, contract=contract(), table=TABLE))
    assert "through the forward at 127.0.0.1" in str(err.value) and "rerun" in err.value.hint
    assert err.value.transient
