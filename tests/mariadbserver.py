"""A private MariaDB server for tests that need server settings of their own (TLS, another network namespace).

The shared server on 3306 runs without TLS. :func:`running_mariadb` runs
Debian's ``mariadb-install-db`` into a temporary data folder (root logs in
without a password, by the Unix socket only, since ``root@localhost`` is not
reachable over TCP from elsewhere), starts ``mariadbd`` on a free port with
the :class:`MariaDbOptions` given (a listen address inside a network
namespace, TLS files, ``--require-secure-transport``), waits until it answers
on its socket, and stops and removes it all afterwards. As root the server
runs with ``--user=root``: the temporary folder is root's.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymysql
import pytest

from chaos.pgserver import free_port

MARIADBD = Path("/usr/sbin/mariadbd")
INSTALL_DB = Path("/usr/bin/mariadb-install-db")


@dataclass(frozen=True)
class MariaDbServer:
    """A running private server: its folder, where it listens, and root's way in (the Unix socket)."""

    root: Path
    port: int
    host: str = "127.0.0.1"

    @property
    def socket(self) -> Path:
        return self.root / "mariadb.sock"

    def execute(self, sql: str, params: Any = None, database: str | None = None) -> list[tuple[Any, ...]]:
        """``sql`` as root through the Unix socket (TLS and the listen address do not apply there)."""
        conn = pymysql.connect(unix_socket=str(self.socket), user="root", database=database, autocommit=True)
        with contextlib.closing(conn), conn.cursor() as cur:
            cur.execute("SET time_zone = '+00:00'")
            cur.execute(sql, params)
            return list(cur.fetchall())


@dataclass(frozen=True)
class MariaDbOptions:
    """Where the server listens and what it runs with beyond the defaults."""

    listen: str = "127.0.0.1"
    netns: str | None = None  # a network namespace (`ip netns`) the server runs in
    files: Mapping[str, bytes] = field(default_factory=dict)  # into the server's folder, mode 0600
    args: tuple[str, ...] = ()  # more mariadbd options; a file of ``files`` is named {root}/NAME


def _install(root: Path) -> None:
    cmd = [str(INSTALL_DB), "--no-defaults", f"--datadir={root / 'data'}", "--auth-root-authentication-method=normal"]
    cmd += ["--skip-test-db", *(["--user=root"] if os.geteuid() == 0 else [])]
    done = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"mariadb-install-db failed: {done.stdout[-2000:]}{done.stderr[-2000:]}", pytrace=False)


def _command(server: MariaDbServer, options: MariaDbOptions) -> list[str]:
    root = server.root
    cmd = [
        str(MARIADBD),
        "--no-defaults",
        f"--datadir={root / 'data'}",
        f"--port={server.port}",
        f"--socket={server.socket}",
        f"--bind-address={options.listen}",
        f"--pid-file={root / 'mariadb.pid'}",
        f"--log-error={root / 'server.log'}",
        "--skip-name-resolve",
        "--innodb-flush-log-at-trx-commit=0",
        "--innodb-buffer-pool-size=32M",
        *(["--user=root"] if os.geteuid() == 0 else []),
        *(arg.format(root=root) for arg in options.args),
    ]
    return ["ip", "netns", "exec", options.netns, *cmd] if options.netns else cmd


def _wait_ready(server: MariaDbServer, process: subprocess.Popen[bytes]) -> None:
    log = server.root / "server.log"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"mariadbd exited ({process.returncode}): {log.read_text()[-3000:]}", pytrace=False)
        with contextlib.suppress(pymysql.err.OperationalError, FileNotFoundError):
            server.execute("SELECT 1")
            return
        time.sleep(0.2)
    pytest.fail(f"mariadbd did not answer on {server.socket}: {log.read_text()[-3000:]}", pytrace=False)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()  # SIGTERM: mariadbd shuts down cleanly
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def running_mariadb(options: MariaDbOptions | None = None) -> Iterator[MariaDbServer]:
    """Install and start a private server with ``options``, yield it, stop it and remove its folder."""
    if not MARIADBD.exists() or not INSTALL_DB.exists():
        pytest.skip("the MariaDB server is not installed (apt-get install mariadb-server)")
    options = options or MariaDbOptions()
    root = Path(tempfile.mkdtemp(prefix="sluice-mariadb-"))
    try:
        for name, body in options.files.items():
            path = root / name
            path.write_bytes(body)
            path.chmod(0o600)
        _install(root)
        server = MariaDbServer(root, free_port(), options.listen)
        with (root / "stdout.log").open("wb") as out:
            process = subprocess.Popen(_command(server, options), stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_ready(server, process)
            yield server
        finally:
            _stop(process)
    finally:
        shutil.rmtree(root, ignore_errors=True)
