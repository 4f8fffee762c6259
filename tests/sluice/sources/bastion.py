"""A database server only an SSH bastion reaches, built of network namespaces, for the tunnel tests.

::

    this process (root namespace) --veth--> bastion namespace: sshd --veth--> db namespace: PostgreSQL
    10.213.N.1                               10.213.N.2  10.213.N.5          10.213.N.6

The root namespace has an ``unreachable`` route for the database's subnet, so
a direct connection fails at once ("No route to host") and the bastion, which
forwards nothing at the IP level, is the only way in. sshd is Debian's
``openssh-server`` (installed when missing, as root), run with a host key,
an authorized key and a config of its own on port 2222; :func:`bastion_network`
starts a private PostgreSQL cluster (:mod:`tests.pgcluster`) inside the db
namespace, and :func:`far_side` leaves it empty for another database (a private
MariaDB, :mod:`tests.mariadbserver`). The fixture removes the namespaces, the route and every process afterwards. It
skips, with the reason, only where ``ip netns`` is not permitted.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.hosts import netns_permitted
from tests.pgcluster import ClusterOptions, PgCluster, running_cluster

SSHD = Path("/usr/sbin/sshd")
SSH_PORT = 2222


@dataclass(frozen=True)
class BastionNet:
    """The running setup: the database as seen from the bastion, and how to log in to the bastion."""

    cluster: PgCluster  # listens on db_host inside the db namespace; its Unix socket works from here
    bastion_host: str
    db_host: str
    key: Path  # the private key sshd accepts
    other_key: Path  # a key sshd does not accept
    known_hosts: Path  # holds the bastion's host key

    @property
    def db_url(self) -> str:
        return f"postgresql://postgres@{self.db_host}:{self.cluster.port}/postgres"

    @property
    def ssh(self) -> str:
        """The URL parameters naming the bastion, without a key."""
        return f"ssh_host={self.bastion_host}&ssh_port={SSH_PORT}&ssh_user=root"

    def tunneled_url(self, key: Path | None = None) -> str:
        return f"{self.db_url}?{self.ssh}&ssh_key={key or self.key}"


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, text=True)


def _ensure_sshd() -> None:
    if SSHD.exists():
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "openssh-server"],
    ):
        done = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            pytest.fail(f"installing openssh-server failed (`make system-deps`): {done.stderr.strip()}", pytrace=False)


def _subnet() -> int:
    routes = subprocess.run(["ip", "route"], capture_output=True, text=True, check=True).stdout
    free = [n for n in range(1, 250) if f"10.213.{n}." not in routes]
    return random.choice(free)


@contextlib.contextmanager
def _namespaces(tag: str, n: int) -> Iterator[tuple[str, str]]:
    bastion, db = f"sl-bastion-{tag}", f"sl-db-{tag}"
    host_if, bastion_if, inner_if, db_if = (f"sl{tag}{i}" for i in "abcd")
    unreachable = ["ip", "route", "add", "unreachable", f"10.213.{n}.4/30"]
    try:
        _run("ip", "netns", "add", bastion)
        _run("ip", "netns", "add", db)
        _run("ip", "link", "add", host_if, "type", "veth", "peer", "name", bastion_if, "netns", bastion)
        _run("ip", "link", "add", inner_if, "netns", bastion, "type", "veth", "peer", "name", db_if, "netns", db)
        _run("ip", "addr", "add", f"10.213.{n}.1/30", "dev", host_if)
        _run("ip", "link", "set", host_if, "up")
        for ns, dev, addr in ((bastion, bastion_if, 2), (bastion, inner_if, 5), (db, db_if, 6)):
            _run("ip", "-n", ns, "addr", "add", f"10.213.{n}.{addr}/30", "dev", dev)
            _run("ip", "-n", ns, "link", "set", dev, "up")
            _run("ip", "-n", ns, "link", "set", "lo", "up")
        _run(*unreachable)
        yield bastion, db
    finally:
        subprocess.run(["ip", "route", "del", "unreachable", f"10.213.{n}.4/30"], check=False, capture_output=True)
        for ns in (bastion, db):  # deleting a namespace deletes its end of each veth pair, and so the pair
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)


def _keys(folder: Path) -> None:
    for name in ("host_key", "client_key", "other_key"):
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(folder / name))
    (folder / "authorized_keys").write_text((folder / "client_key.pub").read_text())


def _wait_port(host: str, port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"sshd exited: {log.read_text()}", pytrace=False)
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
            return
        time.sleep(0.1)
    pytest.fail(f"sshd did not listen on {host}:{port}: {log.read_text()}", pytrace=False)


@contextlib.contextmanager
def _sshd(folder: Path, netns: str, host: str) -> Iterator[None]:
    config = folder / "sshd_config"
    config.write_text(
        f"Port {SSH_PORT}\nListenAddress {host}\nHostKey {folder / 'host_key'}\nPidFile {folder / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {folder / 'authorized_keys'}\nPermitRootLogin prohibit-password\nAllowUsers root\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
        "AllowTcpForwarding yes\nX11Forwarding no\nPrintMotd no\n"
    )
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    _run(str(SSHD), "-t", "-f", str(config))
    log = folder / "sshd.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["ip", "netns", "exec", netns, str(SSHD), "-D", "-e", "-f", str(config)], stdout=out, stderr=out
        )
    try:
        _wait_port(host, SSH_PORT, process, log)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class FarSide:
    """The namespaces with sshd running in the bastion's: where a database is to listen, and how to log in."""

    db_ns: str  # the network namespace the database runs in, listening on db_host
    bastion_host: str
    db_host: str
    key: Path
    other_key: Path
    known_hosts: Path


@contextlib.contextmanager
def far_side() -> Iterator[FarSide]:
    """The namespaces, route and sshd, torn down after (skips where network namespaces cannot be made)."""
    reason = netns_permitted()
    if reason:
        pytest.skip(reason)
    _ensure_sshd()
    n, tag = _subnet(), uuid.uuid4().hex[:4]  # unique: every module importing the fixture sets up its own
    folder = Path(tempfile.mkdtemp(prefix="sluice-bastion-"))
    try:
        _keys(folder)
        host_key = (folder / "host_key.pub").read_text().split()
        (folder / "known_hosts").write_text(f"[10.213.{n}.2]:{SSH_PORT} {host_key[0]} {host_key[1]}\n")
        with _namespaces(tag, n) as (bastion_ns, db_ns), _sshd(folder, bastion_ns, f"10.213.{n}.2"):
            yield FarSide(
                db_ns=db_ns,
                bastion_host=f"10.213.{n}.2",
                db_host=f"10.213.{n}.6",
                key=folder / "client_key",
                other_key=folder / "other_key",
                known_hosts=folder / "known_hosts",
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def bastion_network(settings: dict[str, str] | None = None) -> Iterator[BastionNet]:
    """The whole setup with PostgreSQL, torn down after; ``settings`` are the database's (``-c name=value``)."""
    with far_side() as far:
        subnet = far.db_host.rsplit(".", 1)[0] + ".4/30"
        options = ClusterOptions(listen=far.db_host, netns=far.db_ns, hba=(f"host all all {subnet} trust",))
        with running_cluster(settings or {"fsync": "off"}, options) as cluster:
            yield BastionNet(
                cluster=cluster,
                bastion_host=far.bastion_host,
                db_host=far.db_host,
                key=far.key,
                other_key=far.other_key,
                known_hosts=far.known_hosts,
            )


@pytest.fixture(scope="session")
def bastion_net() -> Iterator[BastionNet]:
    with bastion_network() as net:
        yield net
