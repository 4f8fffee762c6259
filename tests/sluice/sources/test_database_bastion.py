"""A database only an SSH bastion reaches: no direct route, a tunneled snapshot equal to the source, a forward
closed after its run, and one-line errors for a refused key, an untrusted bastion and an unreachable one."""

from __future__ import annotations

import socket
import uuid

import pytest

from sluice.errors import SluiceError
from sluice.sources.database import DatabaseUnreachableError, from_secret, parse_url
from sluice.sources.database_read import TableSpec, describe
from sluice.sources.database_tunnel import BastionAuthError, BastionUnreachableError, TunnelOptions, tunneled
from tests.sluice.sources.bastion import SSH_PORT, BastionNet, bastion_net  # noqa: F401 - the session fixture
from tests.sluice.sources.connfixtures import fill_table, lake_rows, snapshot_into_lake, source_rows
from tests.sluice.sources.dbfixtures import contract, spec

TABLE = "orders_far"


@pytest.fixture(scope="module")
def far_table(bastion_net: BastionNet) -> str:
    fill_table(bastion_net.cluster.socket_url(), TABLE, 300)
    return TABLE


def options(net: BastionNet) -> TunnelOptions:
    return TunnelOptions(known_hosts=str(net.known_hosts), timeout_s=5)


def one_line(exc: SluiceError) -> None:
    message = str(exc).split("\n  hint: ")[0]
    assert "\n" not in message and exc.hint and "Traceback" not in str(exc)


def test_the_database_is_not_reachable_directly(bastion_net, far_table):
    with pytest.raises(DatabaseUnreachableError) as err:
        describe(spec(bastion_net.db_url, contract(), table=far_table))
    one_line(err.value)
    assert "no route to host" in str(err.value).lower()


def test_a_snapshot_through_the_bastion_equals_the_source(sluice_home, bastion_net, far_table):
    url = parse_url(bastion_net.tunneled_url())

    with tunneled(url, options(bastion_net)) as through:
        assert (through.connect_host, through.host) == ("127.0.0.1", bastion_net.db_host)
        snapshot_into_lake(sluice_home, through, far_table, f"far-{uuid.uuid4().hex[:8]}", parts=3)
        local_port = through.connect_port

    assert lake_rows(sluice_home) == source_rows(bastion_net.cluster.socket_url(), far_table)
    assert len(lake_rows(sluice_home)) == 300
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", local_port), timeout=2):
        pass  # the forward is closed with its run


def test_the_key_can_come_from_a_secret(bastion_net, far_table):
    plain = f"{bastion_net.db_url}?{bastion_net.ssh}"
    url = from_secret({"url": plain, "ssh_private_key": bastion_net.key.read_text()})
    assert bastion_net.key.read_text() not in repr(url)

    with tunneled(url, options(bastion_net)) as through:
        assert through.bastion is not None and through.bastion.key_text == ""  # readers never get the key
        columns = describe(TableSpec(url=through, contract=contract(), table=far_table))
    assert set(columns) == set(contract().column_names)


def test_a_key_the_bastion_does_not_accept_is_refused_in_one_line(bastion_net):
    with (
        pytest.raises(BastionAuthError) as err,
        tunneled(parse_url(bastion_net.tunneled_url(bastion_net.other_key)), options(bastion_net)),
    ):
        pass
    one_line(err.value)
    assert f"ssh://root@{bastion_net.bastion_host}:{SSH_PORT} refused the key" in str(err.value)
    assert "authorized_keys" in err.value.hint and not err.value.transient


def test_a_bastion_whose_host_key_is_unknown_is_refused(bastion_net, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with (
        pytest.raises(BastionAuthError) as err,
        tunneled(parse_url(bastion_net.tunneled_url()), TunnelOptions(known_hosts=str(empty), timeout_s=5)),
    ):
        pass
    one_line(err.value)
    assert "host key" in str(err.value) and "ssh-keyscan" in err.value.hint


def test_an_unreachable_bastion_is_a_transient_error(bastion_net):
    url = parse_url(bastion_net.tunneled_url().replace(f"ssh_port={SSH_PORT}", f"ssh_port={SSH_PORT + 1}"))
    with pytest.raises(BastionUnreachableError) as err, tunneled(url, options(bastion_net)):
        pass
    one_line(err.value)
    assert err.value.transient and "cannot reach the SSH bastion" in str(err.value)


def test_a_missing_key_file_is_named(bastion_net, tmp_path):
    url = parse_url(bastion_net.tunneled_url(tmp_path / "no-such-key"))
    with pytest.raises(BastionAuthError) as err, tunneled(url, options(bastion_net)):
        pass
    one_line(err.value)
    assert "no-such-key" in str(err.value)
