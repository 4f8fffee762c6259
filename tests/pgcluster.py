"""A private PostgreSQL 15 cluster for tests that need server settings of their own (logical decoding).

The shared server on 5432 runs with ``wal_level=replica``; logical decoding
needs ``logical``. :class:`PgCluster` runs ``initdb`` and ``pg_ctl`` from
Debian's ``postgresql-15`` on a free loopback port, in a temporary folder
owned by the ``postgres`` OS user when the tests run as root, and removes it
all afterwards. Use the session-scoped ``pg_logical`` fixture (tests/conftest.py
imports it) or :func:`running_cluster` directly.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_BIN = Path("/usr/lib/postgresql/15/bin")
WAL2JSON = Path("/usr/lib/postgresql/15/lib/wal2json.so")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@dataclass(frozen=True)
class PgCluster:
    """A running private cluster: its data folder, port, and a URL for each driver."""

    root: Path
    port: int

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        """A libpq URL (psycopg, ``psql``)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def sa_url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL with the psycopg 3 driver."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def pg_ctl(self, *args: str) -> None:
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), *args]), check=True, capture_output=True
        )

    def restart(self) -> None:
        self.pg_ctl("restart", "-m", "fast", "-w")


def _start(root: Path, port: int, settings: dict[str, str]) -> PgCluster:
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
    cluster = PgCluster(root, port)
    init = [str(PG_BIN / "initdb"), "-D", str(cluster.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
    subprocess.run(_as_postgres([*init, "--no-sync"]), check=True, capture_output=True)
    opts = " ".join(f"-c {k}={v}" for k, v in {"listen_addresses": "127.0.0.1", **settings}.items())
    log = root / "server.log"
    cluster.pg_ctl("-o", f"-p {port} -k {root} {opts}", "-l", str(log), "-w", "-t", "60", "start")
    return cluster


@contextlib.contextmanager
def running_cluster(settings: dict[str, str] | None = None) -> Iterator[PgCluster]:
    """Start a private cluster with ``settings`` (``-c name=value``), yield it, stop and remove it."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip("PostgreSQL 15 server binaries are not installed (apt-get install postgresql-15)")
    root = Path(tempfile.mkdtemp(prefix="sluice-pg-"))
    cluster: PgCluster | None = None
    try:
        cluster = _start(root, free_port(), settings or {})
        yield cluster
    finally:
        if cluster is not None:
            with contextlib.suppress(subprocess.CalledProcessError):
                cluster.pg_ctl("stop", "-m", "immediate", "-w")
        shutil.rmtree(root, ignore_errors=True)


LOGICAL = {
    "wal_level": "logical",
    "output_plugin_libraries": "wal2json",
    "max_replication_slots": "10",
    "max_wal_senders": "10",
    "fsync": "off",
}


@pytest.fixture(scope="session")
def pg_logical() -> Iterator[PgCluster]:
    """A private cluster with ``wal_level=logical`` for the whole session (wal2json must be installed)."""
    if not WAL2JSON.exists():
        pytest.skip("wal2json is not installed (apt-get install postgresql-15-wal2json; see `make system-deps`)")
    with running_cluster(LOGICAL) as cluster:
        yield cluster
