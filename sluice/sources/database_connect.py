"""Driver connections of the database sources: psycopg for PostgreSQL, PyMySQL for MariaDB.

Both open the TCP connection at the URL's ``connect_host``/``connect_port`` when set (the local end of an SSH
tunnel) and verify the server's TLS certificate against the URL's ``host``: libpq through ``hostaddr``, PyMySQL
by connecting a socket of ours under the host's name.
"""

from __future__ import annotations

from typing import Any

from sluice.sources.database import CONNECT_TIMEOUT_S, DatabaseUrl
from sluice.sources.database_tls import refused_client_certificate
from sluice.sources.database_tunnel import forwarded_socket


def pg_connect(url: DatabaseUrl, *, autocommit: bool = False) -> Any:
    import psycopg

    return psycopg.connect(url.libpq(), connect_timeout=CONNECT_TIMEOUT_S, autocommit=autocommit)


def mariadb_connect(url: DatabaseUrl, *, streaming: bool = False) -> Any:
    """A PyMySQL connection (``streaming``: server-side cursors); ``sslmode=disable`` is plain TCP, no ``sslmode``
    PyMySQL's unverified TLS when the server offers it.

    Raises:
        DatabaseTlsError: a TLS file missing, or the server closed a login with a client certificate unexplained.
        DatabaseUnreachableError: the tunnel's forward refused the connection.
        pymysql.err.OperationalError: any other failure, for :func:`~sluice.sources.database.classify`.
    """
    import pymysql
    import pymysql.cursors

    # host is the name TLS verifies; through a tunnel the socket is opened at the forward's end instead.
    conn = pymysql.connect(
        host=url.host,
        port=url.port,
        user=url.user or None,
        password=url.password,
        database=url.database,
        connect_timeout=CONNECT_TIMEOUT_S,
        charset="utf8mb4",
        init_command="SET time_zone = '+00:00'",
        cursorclass=pymysql.cursors.SSCursor if streaming else pymysql.cursors.Cursor,
        ssl=url.mariadb_tls(),
        ssl_disabled=url.param("sslmode") == "disable",  # else PyMySQL tries TLS unverified, and would be refused
        defer_connect=True,
    )
    try:
        conn.connect(forwarded_socket(url, CONNECT_TIMEOUT_S) if url.connect_host else None)
    except pymysql.err.OperationalError as exc:
        refused = refused_client_certificate(exc, url.shown()) if url.param("sslcert") else None
        raise (refused or exc) from None
    return conn
