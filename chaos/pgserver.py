"""A private PostgreSQL 15 server for a drill: ``initdb`` and ``pg_ctl`` on a free loopback port.

The drill's database source runs on a cluster of its own, so a drill can
restart or stop it, kill its sessions and fill its WAL without touching any
server the environment uses. It is started with ``wal_level=logical`` (change
capture decodes it with wal2json), trust authentication on loopback, in a
temporary folder owned by the ``postgres`` OS user when the drill runs as
root, and removed with everything in it by :meth:`PgServer.stop`.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sluice.errors import ConfigError

PG_BIN = Path("/usr/lib/postgresql/15/bin")
WAL2JSON = Path("/usr/lib/postgresql/15/lib/wal2json.so")
INSTALL_HINT = "apt-get install postgresql-15 postgresql-15-wal2json (`make system-deps`)"
LOGICAL = {
    "wal_level": "logical",
    "output_plugin_libraries": "wal2json",  # this server build allows only listed output plugins
    "max_replication_slots": "10",
    "max_wal_senders": "10",
    "fsync": "off",
    "full_page_writes": "off",
}
START_TIMEOUT_S = 60


def why_no_server() -> str | None:
    """Why this host cannot run a drill's PostgreSQL server (None: it can)."""
    if not (PG_BIN / "initdb").exists():
        return f"no PostgreSQL 15 server binaries in {PG_BIN}"
    if not WAL2JSON.exists():
        return f"no wal2json output plugin at {WAL2JSON}"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres OS user to run the server as"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def as_postgres(cmd: list[str]) -> list[str]:
    """``cmd`` run as the ``postgres`` OS user when this process is root (the server refuses to run as root)."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@dataclass(frozen=True)
class PgServer:
    """A running private cluster: its folder and port; :meth:`url` names a database on it."""

    root: Path
    port: int

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def url(self, database: str = "postgres", **query: str) -> str:
        """A libpq URL of ``database`` as the superuser ``postgres`` (trust authentication on loopback)."""
        params = "&".join(f"{k}={v}" for k, v in query.items())
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}" + (f"?{params}" if params else "")

    def pg_ctl(self, *args: str) -> None:
        """Run ``pg_ctl``; a starting server must be given ``-l`` (it would hold a captured stdout open)."""
        done = subprocess.run(
            as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), *args]),
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ConfigError(f"pg_ctl {args[-1]} failed: {tail[0]}", hint=f"see the server log {self.log}")

    def start(self) -> None:
        opts = " ".join(f"-c {k}={v}" for k, v in {"listen_addresses": "127.0.0.1", **LOGICAL}.items())
        self.pg_ctl("-o", f"-p {self.port} -k {self.root} {opts}", "-l", str(self.log), "-w", "-t", "60", "start")

    def restart(self) -> None:
        """A fast restart: every session is cut, the server is back when this returns."""
        self.pg_ctl("-l", str(self.log), "-w", "-t", str(START_TIMEOUT_S), "-m", "fast", "restart")

    def stop(self) -> None:
        """Stop the server (immediately) and remove its folder."""
        with contextlib.suppress(ConfigError):
            self.pg_ctl("-w", "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


def start_server() -> PgServer:
    """Initialise and start a private cluster; ``ConfigError`` when this host cannot run one."""
    problem = why_no_server()
    if problem:
        raise ConfigError(f"the drill's PostgreSQL server cannot start: {problem}", hint=INSTALL_HINT)
    root = Path(tempfile.mkdtemp(prefix="sluice-drill-pg-"))
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
    server = PgServer(root, free_port())
    init = [str(PG_BIN / "initdb"), "-D", str(server.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
    try:
        subprocess.run(as_postgres([*init, "--no-sync"]), check=True, capture_output=True)
        server.start()
    except (subprocess.CalledProcessError, ConfigError):
        server.stop()
        raise
    return server
