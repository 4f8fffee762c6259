"""TLS of database connections: libpq's parameters checked, MariaDB's context built, failed handshakes explained.

The URL carries libpq's names (``sslmode``, ``sslrootcert``, ``sslcert``,
``sslkey``) for both dialects; PostgreSQL hands them to libpq, MariaDB gets
an :class:`ssl.SSLContext` built from them (:func:`tls_context`). A failed
handshake, whatever side refused it, becomes one :class:`DatabaseTlsError`
line whose hint says which certificate to fix (:func:`tls_error`).
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Mapping
from pathlib import Path

from sluice.errors import ConfigError

SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
TLS_FILES = ("sslrootcert", "sslcert", "sslkey")


class DatabaseTlsError(ConfigError):
    """The TLS handshake failed: a certificate missing, expired, untrusted or for another name."""


def first_line(exc: BaseException) -> str:
    """A driver error's first line, without ADBC's status prefix."""
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    # ADBC prefixes the driver's message with its status and an error code.
    return re.sub(r"^(?:[A-Z_]+: )?(?:\[libpq\] )?", "", line).strip()


def ensure_sslmode(mode: str | None) -> None:
    """Raises ConfigError for an ``sslmode`` libpq does not know."""
    if mode is not None and mode not in SSL_MODES:
        raise ConfigError(
            f"sslmode {mode!r} is not one of {', '.join(SSL_MODES)}",
            hint="use sslmode=verify-full with sslrootcert=CA.pem to check the server's certificate and name",
        )


def ensure_tls_files(params: Mapping[str, str], where: str) -> None:
    """Every TLS file ``params`` name exists (libpq would go on without a missing client certificate).

    Raises:
        DatabaseTlsError: one of them does not.
    """
    for name in TLS_FILES:
        path = params.get(name, "")
        if path and path != "system" and not Path(path).is_file():
            raise DatabaseTlsError(
                f"{where}: {name} {path} is not a file",
                hint=f"give {name}= the path of a PEM file this worker can read",
            )


def tls_context(params: Mapping[str, str], where: str) -> ssl.SSLContext | None:
    """The TLS context of a MariaDB connection from the libpq-named ``params`` (None: plain TCP).

    ``require`` encrypts without verifying, ``verify-ca`` checks the server's certificate against
    ``sslrootcert``, ``verify-full`` its name too; ``sslcert``/``sslkey`` are the client's certificate.

    Raises:
        DatabaseTlsError: a certificate or key file that cannot be loaded.
    """
    mode = params.get("sslmode") or ("require" if params.get("sslcert") else "disable")
    if mode in ("disable", "allow", "prefer"):
        return None
    ensure_tls_files(params, where)
    try:
        ctx = ssl.create_default_context(cafile=params.get("sslrootcert") or None)
        ctx.check_hostname = mode == "verify-full"
        ctx.verify_mode = ssl.CERT_NONE if mode == "require" else ssl.CERT_REQUIRED
        if params.get("sslcert"):
            ctx.load_cert_chain(params["sslcert"], params.get("sslkey") or None)
    except (OSError, ssl.SSLError) as exc:
        raise DatabaseTlsError(
            f"{where}: cannot load the TLS files of the connection: {first_line(exc)}",
            hint="check the sslrootcert, sslcert and sslkey paths of the URL (PEM files the worker can read)",
        ) from None
    return ctx


# What a failed TLS handshake says (libpq, the server, OpenSSL, PyMySQL) and what to do about it; first match wins.
_TLS_HINTS = (
    ("does not match host name", "the server's certificate names another host: connect by a name it lists"),
    ("hostname mismatch", "the server's certificate names another host: connect by a name it lists"),
    ("ip address mismatch", "the server's certificate names another host: connect by a name it lists"),
    (
        "certificate has expired",
        "a certificate has expired: renew it (`openssl x509 -enddate -noout -in FILE` shows when)",
    ),
    ("certificate expired", "the client certificate has expired: renew it (sslcert=)"),
    (
        "certificate verify failed",
        "the server's certificate is not signed by the CA of sslrootcert (or has expired): point sslrootcert at "
        "the CA that signed it",
    ),
    (
        "requires a valid client certificate",
        "the server requires a client certificate: add sslcert=CERT.pem&sslkey=KEY.pem, CN = the user",
    ),
    (
        "alert unknown ca",
        "the server does not trust the client certificate: use one signed by the CA of the server's ssl_ca_file",
    ),
    ("alert bad certificate", "the server refused the client certificate: use one its ssl_ca_file's CA signed"),
    ("alert certificate unknown", "the server refused the client certificate: use one its ssl_ca_file's CA signed"),
    (
        "certificate authentication failed",
        "the client certificate's CN is not the connection's user: use that user's certificate",
    ),
    ("root certificate file", "sslrootcert names no readable file: give the path of the CA's PEM certificate"),
    ("could not open certificate file", "sslcert names no readable file: give the client certificate's PEM path"),
    ("could not load private key file", "sslkey names no readable key: give the client key's PEM path"),
    ("private key file", "the client key (sslkey) must be readable by its owner only: chmod 0600 it"),
    ("certificate present, but not private key", "add sslkey=KEY.pem next to sslcert"),
    ("does not support ssl", "the server offers no TLS: turn ssl on in its configuration, or drop sslmode"),
    ("ssl is required", "the server offers no TLS: turn ssl on in its configuration, or drop sslmode"),
    ("no encryption", "the server accepts only TLS here: add sslmode=verify-full&sslrootcert=CA.pem"),
    ("ssl error", "the TLS handshake failed: check sslmode, sslrootcert, sslcert and sslkey against the server's"),
)


def tls_error(exc: BaseException, where: str) -> DatabaseTlsError | None:
    """The one-line error of a failed TLS handshake, or None when ``exc`` is about something else."""
    line = first_line(exc)
    low = line.lower()
    for needle, hint in _TLS_HINTS:
        if needle in low:
            return DatabaseTlsError(f"{where}: TLS connection refused: {line}", hint=hint)
    return None


# A TLS 1.3 server checks the client's certificate after the client has finished its handshake: when it refuses the
# certificate, the client reads its alert (matched above) or, as often, only the connection it closed.
_CLOSED_AT_LOGIN = ("eof occurred in violation of protocol", "connection reset by peer")


def refused_client_certificate(exc: BaseException, where: str) -> DatabaseTlsError | None:
    """The error of a login over TLS with a client certificate that the server closed unexplained, else None."""
    line = first_line(exc)
    if not any(needle in line.lower() for needle in _CLOSED_AT_LOGIN):
        return None
    return DatabaseTlsError(
        f"{where}: the server closed the TLS connection at login, refusing the client certificate: {line}",
        hint="renew sslcert= if it has expired, or use one signed by the CA of the server's ssl_ca "
        "(`openssl x509 -noout -enddate -issuer -in CERT` shows both)",
    )
