"""A private PostgreSQL 15 cluster for tests that need server settings of their own (logical decoding).

The shared server on 5432 runs with ``wal_level=replica``; logical decoding
needs ``logical``. :class:`PgCluster` runs ``initdb`` and ``pg_ctl`` from
Debian's ``postgresql-15`` on a free loopback port, in a temporary folder
owned by the ``postgres`` OS user when the tests run as root, and removes it
all afterwards. Use the session-scoped ``pg_logical`` fixture (tests/conftest.py
imports it) or :func:`running_cluster` directly. A :class:`ClusterOptions`
listens elsewhere (an address of a network namespace the server runs in),
puts files in the data folder (TLS certificates) and puts ``pg_hba.conf``
lines before initdb's.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from chaos.pgserver import as_postgres as _as_postgres
from chaos.pgserver import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")
WAL2JSON = Path("/usr/lib/postgresql/15/lib/wal2json.so")


@dataclass(frozen=True)
class PgCluster:
    """A running private cluster: its data folder, port, and a URL for each driver."""

    root: Path
    port: int
    host: str = "127.0.0.1"

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        """A libpq URL (psycopg, ``psql``)."""
        return f"postgresql://postgres@{self.host}:{self.port}/{database}"

    def sa_url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL with the psycopg 3 driver."""
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/{database}"

    def socket_url(self, database: str = "postgres") -> str:
        """A libpq URL through the Unix socket in the cluster's folder (trusted, whatever ``pg_hba`` says of TCP)."""
        return f"postgresql://postgres@/{database}?host={self.root}&port={self.port}"

    def pg_ctl(self, *args: str) -> None:
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), *args]), check=True, capture_output=True
        )

    def restart(self) -> None:
        # -l: the restarted server must not inherit pg_ctl's captured output, or the capture never ends.
        self.pg_ctl("restart", "-m", "fast", "-w", "-l", str(self.root / "server.log"))


@dataclass(frozen=True)
class ClusterOptions:
    """Where a private cluster listens and what it holds beyond initdb's defaults."""

    listen: str = "127.0.0.1"
    netns: str | None = None  # a network namespace (`ip netns`) the server runs in
    hba: tuple[str, ...] = ()  # pg_hba.conf lines matched before initdb's
    files: Mapping[str, bytes] = field(default_factory=dict)  # into the data folder, postgres's, mode 0600


def _chown_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(path, user.pw_uid, user.pw_gid)


def _prepare(cluster: PgCluster, options: ClusterOptions) -> None:
    for name, body in options.files.items():
        path = cluster.data / name
        path.write_bytes(body)
        path.chmod(0o600)
        _chown_postgres(path)
    if options.hba:
        hba = cluster.data / "pg_hba.conf"
        hba.write_text("\n".join(options.hba) + "\n" + hba.read_text())


def _start(root: Path, port: int, settings: dict[str, str], options: ClusterOptions) -> PgCluster:
    _chown_postgres(root)
    cluster = PgCluster(root, port, options.listen)
    init = [str(PG_BIN / "initdb"), "-D", str(cluster.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
    subprocess.run(_as_postgres([*init, "--no-sync"]), check=True, capture_output=True)
    _prepare(cluster, options)
    opts = " ".join(f"-c {k}={v}" for k, v in {"listen_addresses": options.listen, **settings}.items())
    log = root / "server.log"
    start = [str(PG_BIN / "pg_ctl"), "-D", str(cluster.data), "-o", f"-p {port} -k {root} {opts}", "-l", str(log)]
    netns = ["ip", "netns", "exec", options.netns] if options.netns else []
    subprocess.run([*netns, *_as_postgres([*start, "-w", "-t", "60", "start"])], check=True, capture_output=True)
    return cluster


@contextlib.contextmanager
def running_cluster(
    settings: dict[str, str] | None = None, options: ClusterOptions | None = None
) -> Iterator[PgCluster]:
    """Start a private cluster with ``settings`` (``-c name=value``), yield it, stop and remove it."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip("PostgreSQL 15 server binaries are not installed (apt-get install postgresql-15)")
    root = Path(tempfile.mkdtemp(prefix="sluice-pg-"))
    cluster: PgCluster | None = None
    try:
        cluster = _start(root, free_port(), settings or {}, options or ClusterOptions())
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
