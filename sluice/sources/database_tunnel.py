"""A database reachable only through an SSH bastion: a local port forward held open for a run.

:func:`tunneled` logs in to the connection's bastion with its private key
(the file ``ssh_key=`` names, the key text of a Prefect Secret, or the user's
default keys), checks the bastion's host key against a known_hosts file,
listens on a free port of 127.0.0.1 and forwards each connection made there to
the database's ``host:port`` as the bastion resolves it. It yields the URL with
``connect_host``/``connect_port`` pointing at that port: libpq still verifies
the server certificate against the database's own name, and messages and batch
sources still show it. Readers in other processes of the same host (the local
Dask workers) connect through the same forward.

The SSH client is asyncssh, on an event loop of its own thread; leaving the
``with`` block closes the listener and the SSH connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from sluice.errors import ConfigError
from sluice.sources.database import Bastion, DatabaseUnreachableError, DatabaseUrl

LOCAL_HOST = "127.0.0.1"


class BastionUnreachableError(DatabaseUnreachableError):
    """The SSH bastion cannot be reached (refused, unknown host, timeout): transient, a later run may pass."""


class BastionAuthError(ConfigError):
    """The SSH bastion refused the key, or its host key is not the one known_hosts holds."""


@dataclass(frozen=True)
class TunnelOptions:
    """How the bastion is trusted and how long a login may take."""

    known_hosts: str = ""  # a known_hosts file; empty: ~/.ssh/known_hosts
    timeout_s: float = 10.0


def _client_keys(bastion: Bastion) -> Any:
    import asyncssh

    if bastion.key_text:
        try:
            return [asyncssh.import_private_key(bastion.key_text)]
        except (asyncssh.KeyImportError, ValueError) as exc:
            raise BastionAuthError(
                f"the private key for {bastion.shown()} is not a readable key: {exc}",
                hint="store the whole unencrypted private key (OpenSSH or PEM format) in the Secret",
            ) from None
    if bastion.key_path:
        try:
            return [asyncssh.read_private_key(bastion.key_path)]
        except (OSError, asyncssh.KeyImportError, ValueError) as exc:
            raise BastionAuthError(
                f"cannot read the private key {bastion.key_path} for {bastion.shown()}: {exc}",
                hint="give ssh_key= the path of an unencrypted private key the worker can read",
            ) from None
    return ()  # asyncssh's default: the user's ~/.ssh/id_* keys


def _login_error(exc: BaseException, bastion: Bastion) -> Exception:
    import asyncssh

    where = bastion.shown()
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        return BastionAuthError(
            f"the host key of {where} is not trusted: {text}",
            hint="add the bastion's key to the known_hosts file (SLUICE_DB_SSH_KNOWN_HOSTS), "
            f"e.g. ssh-keyscan -p {bastion.port} {bastion.host} >> FILE, after checking its fingerprint",
        )
    if isinstance(exc, asyncssh.PermissionDenied):
        return BastionAuthError(
            f"{where} refused the key: {text}",
            hint=f"add the public key to ~{bastion.user}/.ssh/authorized_keys on the bastion, or fix ssh_key=",
        )
    return BastionUnreachableError(
        f"cannot reach the SSH bastion {where}: {text}",
        hint="check that the bastion is up and its SSH port reachable from this host (firewall, DNS, port); "
        "runbook database-unreachable",
    )


async def _open(bastion: Bastion, url: DatabaseUrl, options: TunnelOptions, keys: Any) -> tuple[Any, Any]:
    import asyncssh

    try:
        conn = await asyncssh.connect(
            bastion.host,
            bastion.port,
            username=bastion.user,
            client_keys=keys,
            known_hosts=options.known_hosts or (),
            connect_timeout=options.timeout_s,
            login_timeout=options.timeout_s,
            agent_path=None,
        )
    except (TimeoutError, OSError, asyncssh.Error) as exc:
        raise _login_error(exc, bastion) from None
    listener = await conn.forward_local_port(LOCAL_HOST, 0, url.host, url.port)
    return conn, listener


async def _close(conn: Any, listener: Any) -> None:
    listener.close()
    await listener.wait_closed()
    conn.close()
    await conn.wait_closed()


class _Loop:
    """An asyncio event loop running on a daemon thread, for the SSH connection's lifetime."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="sluice-ssh-tunnel", daemon=True)
        self.thread.start()

    def run(self, coro: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@contextlib.contextmanager
def tunneled(url: DatabaseUrl, options: TunnelOptions | None = None) -> Iterator[DatabaseUrl]:
    """``url`` itself when it names no bastion; else ``url`` through a local forward held open inside.

    Raises:
        BastionUnreachableError: the bastion cannot be reached (transient).
        BastionAuthError: the key was refused or unreadable, or the bastion's host key is not trusted.
    """
    if url.bastion is None:
        yield url
        return
    bastion = url.bastion
    keys = _client_keys(bastion)
    loop = _Loop()
    try:
        conn, listener = loop.run(_open(bastion, url, options or TunnelOptions(), keys))
        try:
            forgotten = dataclasses.replace(bastion, key_text="")  # readers need the port, never the key
            yield dataclasses.replace(
                url, bastion=forgotten, connect_host=LOCAL_HOST, connect_port=int(listener.get_port())
            )
        finally:
            loop.run(_close(conn, listener))
    finally:
        loop.stop()


def forwarded_socket(url: DatabaseUrl, timeout_s: float) -> socket.socket:
    """A TCP connection to the local end of ``url``'s forward, for a driver that takes an open socket (PyMySQL).

    The driver keeps ``url.host`` as the name its TLS verifies, as libpq does with ``hostaddr``.

    Raises:
        DatabaseUnreachableError: the forward refused the connection (its tunnel closed).
    """
    port = url.connect_port or url.port
    try:
        sock = socket.create_connection((url.connect_host, port), timeout_s)
    except OSError as exc:
        raise DatabaseUnreachableError(
            f"cannot reach {url.shown()} through the forward at {url.connect_host}:{port}: {exc}",
            hint="the tunnel of the run is closed or its bastion went away: rerun; runbook database-unreachable",
        ) from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    return sock
