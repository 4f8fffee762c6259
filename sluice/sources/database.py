"""Databases as sources: connections, the errors a connection can end in, and identifiers.

A connection is a SQLAlchemy-style URL (``postgresql://user:pw@host:5432/db``,
``mysql://root@127.0.0.1:3306/test``). It is given literally, or by a name of
``SLUICE_DATABASES`` (the flow also takes a Prefect Secret block name). A password is never logged:
every message shows :meth:`DatabaseUrl.shown`, which hides it.

Query parameters of the URL: libpq's TLS parameters (``sslmode``, ``sslrootcert``,
``sslcert``, ``sslkey``), which PostgreSQL connections pass to libpq and MariaDB
connections turn into PyMySQL's TLS context; and ``ssh_host``, ``ssh_user``,
``ssh_port`` (22) and ``ssh_key`` (a private key file), an SSH bastion the connection is tunneled through
(:mod:`sluice.sources.database_tunnel`).

Driver errors end in one of the errors below (a failed TLS handshake in
:class:`~sluice.sources.database_tls.DatabaseTlsError`), one line each with a hint.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from sluice.errors import (
    ConfigError,
    ContractError,
    SourceError,
    SourceNotFoundError,
    SourceUnreachableError,
)
from sluice.sources.database_tls import (
    ensure_sslmode,
    ensure_tls_files,
    first_line,
    tls_context,
    tls_error,
)

CONNECT_TIMEOUT_S = 10
APPLICATION_NAME = "sluice"  # how PostgreSQL's pg_stat_activity names Sluice's sessions


class Dialect(StrEnum):
    POSTGRESQL = "postgresql"
    MARIADB = "mariadb"


class DatabaseUnreachableError(SourceUnreachableError):
    """The database server cannot be reached (refused, unknown host, timeout): retried with backoff."""


class DatabaseSnapshotLostError(DatabaseUnreachableError):
    """The run's exported snapshot ended with its coordinator's session: a retry of a reader cannot cure it."""

    transient = False


class DatabaseAuthError(ConfigError):
    """The server refused the credentials of the connection."""


class DatabaseTableNotFoundError(SourceNotFoundError):
    """The table (or a relation of the query) does not exist."""


class DatabasePermissionError(SourceError):
    """The connection's user may not read the table."""


class UnmappedColumnError(ContractError):
    """A source column whose type has no mapping to its contract type."""


_DIALECTS = {
    "postgresql": Dialect.POSTGRESQL,
    "postgres": Dialect.POSTGRESQL,
    "mysql": Dialect.MARIADB,
    "mariadb": Dialect.MARIADB,
}
_DEFAULT_PORTS = {Dialect.POSTGRESQL: 5432, Dialect.MARIADB: 3306}


@dataclass(frozen=True)
class Bastion:
    """An SSH server the database connection is tunneled through, and the private key that logs in."""

    user: str
    host: str
    port: int = 22
    key_path: str = ""  # a private key file; neither this nor key_text: the user's default keys
    key_text: str = field(default="", repr=False)  # the private key itself (from a Prefect Secret)

    def shown(self) -> str:
        return f"ssh://{self.user}@{self.host}:{self.port}"


SSH_PARAMS = ("ssh_host", "ssh_user", "ssh_port", "ssh_key")


def parse_bastion(params: Mapping[str, str]) -> Bastion | None:
    """The bastion the ``ssh_*`` query parameters name, or None when they name none.

    Raises:
        ConfigError: ``ssh_*`` parameters without ``ssh_host`` and ``ssh_user``, or a port that is not a number.
    """
    given = {k: v for k, v in params.items() if k in SSH_PARAMS and v}
    if not given:
        return None
    port = given.get("ssh_port", "22")
    if not given.get("ssh_host") or not given.get("ssh_user") or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(
            f"the SSH bastion of the URL is incomplete: {', '.join(f'{k}={v}' for k, v in sorted(given.items()))}",
            hint="give ssh_host=BASTION&ssh_user=USER (ssh_port=22 and ssh_key=/path/to/private_key are optional)",
        )
    return Bastion(given["ssh_user"], given["ssh_host"], int(port), given.get("ssh_key", ""))


@dataclass(frozen=True)
class DatabaseUrl:
    """A parsed connection URL; its ``repr`` and :meth:`shown` never include the password.

    ``connect_host``/``connect_port``, when set, are where the TCP connection is opened instead (the local end
    of a tunnel); ``host`` stays the name TLS verifies and the name every message and batch source shows.
    """

    dialect: Dialect
    host: str
    port: int
    database: str
    user: str
    password: str = field(default="", repr=False)
    query: tuple[tuple[str, str], ...] = ()
    bastion: Bastion | None = None
    connect_host: str = ""
    connect_port: int = 0

    def shown(self) -> str:
        who = f"{self.user}@" if self.user else ""
        return f"{self.dialect.value}://{who}{self.host}:{self.port}/{self.database}"

    def param(self, name: str) -> str:
        return dict(self.query).get(name, "")

    def ensure_tls_files(self) -> None:
        """Every TLS file the URL names exists (libpq would go on without a missing client certificate).

        Raises:
            DatabaseTlsError: one of them does not.
        """
        ensure_tls_files(dict(self.query), self.shown())

    def libpq(self) -> str:
        """The URL as libpq (psycopg, ADBC) takes it, password included; sessions are named ``sluice``.

        Raises:
            DatabaseTlsError: a TLS file the URL names does not exist.
        """
        self.ensure_tls_files()
        query = {"application_name": APPLICATION_NAME, **dict(self.query)}
        if self.connect_host:  # libpq opens the socket at hostaddr and verifies the certificate against host
            query["hostaddr"] = self.connect_host
        url = URL.create(
            "postgresql",
            username=self.user or None,
            password=self.password or None,
            host=self.host,
            port=self.connect_port or self.port,
            database=self.database,
            query=query,
        )
        return url.render_as_string(hide_password=False)

    def mariadb_tls(self) -> ssl.SSLContext | None:
        """The TLS context of a MariaDB connection from the libpq-named parameters (None: plain TCP)."""
        return tls_context(dict(self.query), self.shown())


def parse_url(text: str) -> DatabaseUrl:
    """Parse a SQLAlchemy-style URL; ``postgresql+psycopg`` and ``mysql+pymysql`` forms are accepted.

    Raises:
        ConfigError: not a URL, a database other than PostgreSQL or MariaDB/MySQL, an unknown ``sslmode`` or a
            incomplete SSH bastion.
    """
    try:
        url = make_url(text)
    except ArgumentError:
        raise ConfigError(
            "the database connection is not a URL",
            hint="give dialect://user:password@host:port/database, e.g. postgresql://app@db:5432/shop",
        ) from None
    dialect = _DIALECTS.get(url.get_backend_name())
    if dialect is None:
        raise ConfigError(
            f"database kind {url.get_backend_name()!r} is not supported",
            hint="use a postgresql:// or mysql:// (MariaDB) URL",
        )
    if not url.database:
        raise ConfigError(f"the URL {url.render_as_string()} names no database", hint="end the URL with /DATABASE")
    query = {k: str(v) for k, v in url.query.items()}
    ensure_sslmode(query.get("sslmode"))
    bastion = parse_bastion(query)
    for name in SSH_PARAMS:  # Sluice's, not the driver's
        query.pop(name, None)
    return DatabaseUrl(
        dialect=dialect,
        host=url.host or "localhost",
        port=url.port or _DEFAULT_PORTS[dialect],
        database=url.database,
        user=url.username or "",
        password=url.password if isinstance(url.password, str) else "",
        query=tuple(sorted(query.items())),
        bastion=bastion,
    )


def resolve_connection(connection: str, named: Mapping[str, str]) -> DatabaseUrl:
    """A literal URL, or the name of one in ``named`` (``SLUICE_DATABASES``)."""
    if "://" in connection:
        return parse_url(connection)
    if connection not in named:
        known = ", ".join(sorted(named)) or "none"
        raise ConfigError(
            f"no database connection named {connection!r} (configured: {known})",
            hint='add it to SLUICE_DATABASES ({"NAME": "postgresql://..."}), or pass a URL or a Prefect Secret block',
        )
    return parse_url(named[connection])


def from_secret(value: object) -> DatabaseUrl:
    """The connection a Prefect Secret holds: the URL, or ``{"url": URL, "ssh_private_key": KEY}``.

    Raises:
        ConfigError: neither form, or a URL :func:`parse_url` refuses.
    """
    if isinstance(value, str):
        return parse_url(value)
    if isinstance(value, dict) and isinstance(value.get("url"), str) and set(value) <= {"url", "ssh_private_key"}:
        url = parse_url(value["url"])
        key = value.get("ssh_private_key")
        if isinstance(key, str) and key:
            if url.bastion is None:
                raise ConfigError(
                    "the Secret holds an SSH key but its URL names no bastion",
                    hint="add ssh_host=BASTION&ssh_user=USER to the URL in the Secret",
                )
            return replace(url, bastion=replace(url.bastion, key_text=key))
        return url
    raise ConfigError(
        'the Secret block holds neither a connection URL nor {"url": ..., "ssh_private_key": ...}',
        hint="store the URL as the Secret's value, or a JSON object with those keys",
    )


_UNREACHABLE = (
    "connection refused",
    "could not translate host name",
    "name or service not known",
    "timeout expired",
    "timed out",
    "no route to host",
    "can't connect to",
    "network is unreachable",
    "server closed the connection",
    "lost connection",
    "terminating connection",
)
# MariaDB: 1045 "Access denied for user ... (using password: YES)" is the login; 1044 "... to database" a grant.
_AUTH = ("password authentication failed", "(using password:", "authentication failed")
_NOT_FOUND = ("does not exist", "doesn't exist", "unknown table", "unknown database")
_PERMISSION = ("permission denied", "command denied", "access denied")


def _auth_hint(url: DatabaseUrl) -> str:
    """MariaDB refuses a missing or wrong client certificate, and plain TCP under ``require_secure_transport``,
    with the words of a wrong password (1045 "Access denied"): the hint names what the URL may lack."""
    hint = "check the user and password of the connection (SLUICE_DATABASES or its Secret block)"
    if url.dialect is not Dialect.MARIADB:
        return hint
    if url.param("sslcert"):
        return f"{hint}; a user created REQUIRE SUBJECT/ISSUER takes only the certificate they name (sslcert=)"
    if url.param("sslmode") == "disable":
        return f"{hint}; or the server takes only TLS: drop sslmode=disable (sslmode=verify-full&sslrootcert=CA.pem)"
    return f"{hint}; or the user requires a client certificate (REQUIRE X509): add sslcert=CERT.pem&sslkey=KEY.pem"


def classify(exc: BaseException, url: DatabaseUrl, what: str) -> SourceError | ConfigError:
    """The one-line Sluice error for a driver error met while reading ``what`` (a table or query)."""
    line = first_line(exc)
    low = line.lower()
    where = url.shown()
    tls = tls_error(exc, where)
    if tls is not None:
        return tls
    if any(s in low for s in _AUTH) or ("role" in low and "does not exist" in low):
        return DatabaseAuthError(f"{where} refused the credentials: {line}", hint=_auth_hint(url))
    if any(s in low for s in _UNREACHABLE):
        return DatabaseUnreachableError(
            f"cannot reach {where}: {line}",
            hint="check that the server is up and reachable from this host (firewall, DNS, port); runbook "
            "database-unreachable",
        )
    if "database" in low and any(s in low for s in _NOT_FOUND):
        return DatabaseTableNotFoundError(f"{where}: {line}", hint="check the database name at the end of the URL")
    if any(s in low for s in _NOT_FOUND):
        return DatabaseTableNotFoundError(
            f"{what} not found in {where}: {line}",
            hint="check the table name (schema.table) and that the connection's database holds it",
        )
    if "invalid snapshot identifier" in low:
        return DatabaseSnapshotLostError(
            f"{where}: the snapshot of {what} ended before its readers had it: {line}",
            hint="its coordinator's connection was closed (killed, server restarted); nothing was committed, rerun; "
            "runbook database-unreachable",
        )
    if any(s in low for s in _PERMISSION):
        return DatabasePermissionError(
            f"{where}: no permission to read {what}: {line}",
            hint=f"GRANT SELECT on {what} to {url.user or 'the connection user'}",
        )
    return SourceError(f"{where}: reading {what} failed: {line}", hint="see the database server's log")


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


def split_name(table: str) -> list[str]:
    """``schema.table`` as its parts; each part is a plain identifier (no quoting games)."""
    parts = table.split(".")
    if not 1 <= len(parts) <= 2 or not all(_IDENT.match(p) for p in parts):
        raise ConfigError(
            f"table name {table!r} is not [schema.]name of letters, digits and underscores",
            hint="for anything else, give a query instead of a table",
        )
    return parts


def quote(dialect: Dialect, name: str) -> str:
    """One identifier quoted for ``dialect``."""
    if dialect is Dialect.POSTGRESQL:
        return '"' + name.replace('"', '""') + '"'
    return "`" + name.replace("`", "``") + "`"


def quoted_table(dialect: Dialect, table: str) -> str:
    return ".".join(quote(dialect, p) for p in split_name(table))
