"""The database checks of ``ops doctor``: every configured source database, and change capture's server.

For each connection of ``SLUICE_DATABASES``, and for ``SLUICE_CDC_DSN`` when
set (the server ``capture-changes`` and ``alerts-evaluate`` read):

- the URL parses, the server answers and takes the credentials (one check
  per database: a connection either works or fails for one reason);
- for the capture server (PostgreSQL only): ``wal_level`` is ``logical``
  (WARN otherwise: ingestion still works, capture cannot), each replication
  slot asked for exists (every logical slot is listed when none is named),
  with its lag, and the publication exists when one is named.

Every result is one line, with what to do in its hint; a password never
appears in one. Connections give up after ``CONNECT_TIMEOUT_S``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ops.doctor.models import CheckResult
from sluice.errors import ConfigError, SluiceError
from sluice.sources.database import DatabaseUrl, Dialect, classify, parse_url

CDC_DSN = "SLUICE_CDC_DSN"
CONNECT_TIMEOUT_S = 3
LAG_WARN_BYTES = 1 << 30  # the cdc-slot-lag-bytes alert rule's threshold
SETTING_HINT = 'fix the URL in SLUICE_DATABASES ({"NAME": "postgresql://user:PW@host:5432/db"})'


def _first_line(text: str, secret: str = "") -> str:
    lines = text.strip().splitlines()
    line = lines[0] if lines else text
    return line.replace(secret, "***") if secret else line


def _connect(url: DatabaseUrl) -> Any:
    if url.dialect is Dialect.MARIADB:
        import pymysql

        return pymysql.connect(
            host=url.host,
            port=url.port,
            user=url.user or None,
            password=url.password,
            database=url.database,
            connect_timeout=CONNECT_TIMEOUT_S,
        )
    import psycopg

    return psycopg.connect(url.libpq(), connect_timeout=CONNECT_TIMEOUT_S, autocommit=True)


def _version(conn: Any, url: DatabaseUrl) -> str:
    if url.dialect is Dialect.MARIADB:
        with conn.cursor() as cur:
            cur.execute("SELECT VERSION()")
            return f"MariaDB {cur.fetchone()[0]}"
    return f"PostgreSQL {conn.execute('SHOW server_version').fetchone()[0]}"


def _reach(name: str, url: DatabaseUrl) -> tuple[CheckResult, Any]:
    """Connect to ``url``: the check's result, and the open connection when it worked."""
    import psycopg
    import pymysql

    try:
        conn = _connect(url)
    except (psycopg.Error, pymysql.err.Error, OSError) as exc:
        error = classify(exc, url, "the connection")
        detail = _first_line(str(error.args[0]), url.password)
        return CheckResult.fail(name, detail, error.hint or "see the database server's log"), None
    try:
        version = _version(conn, url)
    except (psycopg.Error, pymysql.err.Error) as exc:
        conn.close()
        detail = f"{url.shown()} connected but cannot be queried: {_first_line(str(exc), url.password)}"
        return CheckResult.fail(name, detail, "see the database server's log"), None
    return CheckResult.ok(name, f"{url.shown()} answers ({version}); the credentials are accepted"), conn


def _wal_level(name: str, conn: Any, shown: str) -> CheckResult:
    level = str(conn.execute("SHOW wal_level").fetchone()[0])
    if level != "logical":
        return CheckResult.warn(
            name,
            f"{shown}: wal_level is {level}, so change capture cannot decode it (table ingestion still works)",
            "set wal_level = logical in postgresql.conf and restart the server",
        )
    return CheckResult.ok(name, f"{shown}: wal_level is logical")


def _slot_result(name: str, info: Any) -> CheckResult:
    lag = "unknown" if info.lag_bytes is None else f"{info.lag_bytes:,} byte(s)"
    held = f", held by pid {info.active_pid}" if info.active_pid else ""
    detail = f"slot {info.name} ({info.plugin}, database {info.database}{held}) lags {lag}"
    if info.lag_bytes is not None and info.lag_bytes >= LAG_WARN_BYTES:
        return CheckResult.warn(name, detail, "the capture falls behind: see runbook cdc-slot-lag")
    return CheckResult.ok(name, detail)


def _slots(name: str, conn: Any, wanted: Sequence[str]) -> list[CheckResult]:
    from sluice.sources.cdc.slots import list_slots

    found = {info.name: info for info in list_slots(conn, with_seconds=False)}
    if not wanted and not found:
        return [
            CheckResult.warn(
                name,
                "no logical replication slot on the server",
                "the capture-changes flow creates its slot on its first run (create_slot=true)",
            )
        ]
    results = []
    for slot in wanted or sorted(found):
        if slot in found:
            results.append(_slot_result(name, found[slot]))
        else:
            results.append(
                CheckResult.fail(
                    name,
                    f"replication slot {slot} does not exist",
                    f"run capture-changes with create_slot=true, or SELECT "
                    f"pg_create_logical_replication_slot('{slot}', 'wal2json')",
                )
            )
    return results


def _publication(name: str, conn: Any, publication: str) -> CheckResult:
    row = conn.execute("SELECT count(*) FROM pg_publication WHERE pubname = %s", (publication,)).fetchone()
    if not row or not row[0]:
        return CheckResult.fail(
            name,
            f"publication {publication} does not exist",
            f"CREATE PUBLICATION {publication} FOR TABLE <schema.table> on the source database",
        )
    return CheckResult.ok(name, f"publication {publication} exists")


def _capture_checks(
    name: str, conn: Any, url: DatabaseUrl, slots: Sequence[str], publication: str | None
) -> list[CheckResult]:
    import psycopg

    try:
        level = _wal_level(name, conn, url.shown())
        results = [level, *_slots(name, conn, slots)]
        if publication:
            results.append(_publication(name, conn, publication))
    except (psycopg.Error, SluiceError) as exc:
        return [CheckResult.fail(name, f"{url.shown()}: {_first_line(str(exc), url.password)}", "see the server log")]
    return results


def check_database(
    name: str, text: str, *, capture: bool = False, slots: Sequence[str] = (), publication: str | None = None
) -> list[CheckResult]:
    """The checks of one database URL (``capture``: it is change capture's server)."""
    try:
        url = parse_url(text)
    except ConfigError as exc:
        hint = f"fix {CDC_DSN}" if capture else SETTING_HINT
        return [CheckResult.fail(name, f"not a usable database URL: {exc.args[0]}", exc.hint or hint)]
    reached, conn = _reach(name, url)
    if conn is None:
        return [reached]
    try:
        if not capture:
            return [reached]
        if url.dialect is not Dialect.POSTGRESQL:
            return [
                reached,
                CheckResult.fail(name, f"{url.shown()} is not PostgreSQL", "change capture reads PostgreSQL"),
            ]
        return [reached, *_capture_checks(name, conn, url, slots, publication)]
    finally:
        conn.close()


def check_databases(
    databases: Mapping[str, str],
    cdc_dsn: str | None,
    *,
    slots: Sequence[str] = (),
    publication: str | None = None,
) -> list[CheckResult]:
    """Every named database (``SLUICE_DATABASES``), then the capture server (``SLUICE_CDC_DSN``), if any."""
    results = []
    for name in sorted(databases):
        results += check_database(f"Database {name}", databases[name])
    if cdc_dsn:
        results += check_database("Capture source", cdc_dsn, capture=True, slots=slots, publication=publication)
    elif slots or publication:
        results.append(
            CheckResult.fail(
                "Capture source",
                f"a slot or publication to check was given, but {CDC_DSN} is not set",
                f"export {CDC_DSN}=postgresql://user@host:5432/db (the server capture-changes reads)",
            )
        )
    return results
