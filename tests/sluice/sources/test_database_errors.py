"""Bad connections and unmapped types end in one line with a hint, before any row is read."""

from __future__ import annotations

import pytest

from sluice.errors import ConfigError, SluiceError
from sluice.sources.database import (
    DatabaseAuthError,
    DatabasePermissionError,
    DatabaseTableNotFoundError,
    DatabaseUnreachableError,
    UnmappedColumnError,
    parse_url,
    resolve_connection,
)
from sluice.sources.database_read import TableSpec, describe
from tests.sluice.sources.dbfixtures import (
    MARIADB_URL,
    PG_URL,
    contract,
    maria_exec,
    maria_table,  # noqa: F401 - fixture
    pg_exec,
    pg_table,  # noqa: F401 - fixture
    spec,
    unique,
)


def one_line(exc: SluiceError) -> None:
    message = str(exc).split("\n  hint: ")[0]
    assert "\n" not in message and exc.hint and "Traceback" not in str(exc)


@pytest.mark.parametrize("url", ["postgresql://postgres@127.0.0.1:1/test", "mysql://root@127.0.0.1:1/test"])
def test_unreachable_host(url):
    with pytest.raises(DatabaseUnreachableError) as err:
        describe(spec(url, contract(), table="orders"))
    one_line(err.value)
    assert err.value.transient and "database-unreachable" in err.value.hint


def test_unknown_host_name():
    with pytest.raises(DatabaseUnreachableError):
        describe(spec("postgresql://postgres@no-such-host.invalid:5432/test", contract(), table="orders"))


def test_mariadb_wrong_password_is_not_shown():
    with pytest.raises(DatabaseAuthError) as err:
        describe(spec("mysql://root:s3cret-pw@127.0.0.1:3306/test", contract(), table="orders"))
    one_line(err.value)
    assert "s3cret-pw" not in str(err.value)


def test_pg_unknown_role():
    with pytest.raises(DatabaseAuthError) as err:
        describe(spec("postgresql://nobody_here:pw@127.0.0.1:5432/test", contract(), table="orders"))
    one_line(err.value)
    assert ":pw@" not in str(err.value)


def test_password_hidden_from_repr_and_shown():
    url = parse_url("postgresql+psycopg://app:hunter2@db.example:6432/shop")
    assert "hunter2" not in repr(url) and "hunter2" not in url.shown()
    assert url.port == 6432 and url.database == "shop"
    assert "hunter2" in url.libpq()


@pytest.mark.parametrize("url", [PG_URL, MARIADB_URL])
def test_missing_table(url):
    with pytest.raises(DatabaseTableNotFoundError) as err:
        describe(spec(url, contract(), table=unique("missing")))
    one_line(err.value)


def test_pg_permission_denied(pg_table):
    role = unique("sl_role")
    pg_exec(f'CREATE TABLE "{pg_table}" (id bigint PRIMARY KEY, created_at timestamptz)')
    pg_exec(f"CREATE ROLE {role} LOGIN")
    try:
        c = contract(columns=[{"name": "id", "type": "int64"}, {"name": "created_at", "type": "timestamp"}])
        s = spec(f"postgresql://{role}@127.0.0.1:5432/test", c, table=pg_table)
        from sluice.sources.database_read import KeyRange, Snapshot, read_range

        with pytest.raises(DatabasePermissionError) as err:
            list(read_range(s, {}, Snapshot(None, "x", [KeyRange()]), KeyRange()))
        one_line(err.value)
        assert "GRANT SELECT" in err.value.hint
    finally:
        pg_exec(f"DROP ROLE {role}")


def test_mariadb_permission_denied(maria_table):
    user = unique("sl_user")
    maria_exec(f"CREATE TABLE `{maria_table}` (id bigint PRIMARY KEY, created_at timestamp)")
    maria_exec(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'")
    maria_exec(f"CREATE USER '{user}'@'localhost' IDENTIFIED BY 'pw'")
    maria_exec(f"GRANT USAGE ON *.* TO '{user}'@'localhost'")
    try:
        c = contract(columns=[{"name": "id", "type": "int64"}, {"name": "created_at", "type": "timestamp"}])
        with pytest.raises(DatabasePermissionError) as err:
            describe(spec(f"mysql://{user}:pw@127.0.0.1:3306/test", c, table=maria_table))
        one_line(err.value)
    finally:
        maria_exec(f"DROP USER '{user}'@'%'")
        maria_exec(f"DROP USER '{user}'@'localhost'")


PG_UNMAPPED = [
    ("numeric(50,10)", "amount", "float64", "numeric(50,10)"),
    ("numeric", "amount", "float64", "numeric"),
    ("integer[]", "note", "string", "integer[]"),
    ("jsonb", "note", "string", "jsonb"),
    ("bytea", "note", "string", "bytea"),
    ("interval", "note", "string", "interval"),
    ("int4range", "note", "string", "int4range"),
    ("timestamp", "updated_at", "timestamp", "timestamp without time zone"),
]


@pytest.mark.parametrize(("ddl_type", "column", "declared", "shown"), PG_UNMAPPED)
def test_pg_unmapped_type_fails_before_reading(pg_table, ddl_type, column, declared, shown):
    types = {"amount": "float8", "note": "text", "updated_at": "timestamptz"}
    types[column] = ddl_type
    pg_exec(
        f'CREATE TABLE "{pg_table}" (id bigint PRIMARY KEY, customer text, created_at timestamptz, '
        f"amount {types['amount']}, note {types['note']}, updated_at {types['updated_at']})"
    )
    with pytest.raises(UnmappedColumnError) as err:
        describe(spec(PG_URL, contract(), table=pg_table))
    one_line(err.value)
    assert f"column {column} is {shown}" in str(err.value) and declared in str(err.value)


def test_pg_enum_is_unmapped(pg_table):
    kind = unique("sl_mood")
    pg_exec(f"CREATE TYPE {kind} AS ENUM ('a', 'b')")
    try:
        pg_exec(
            f'CREATE TABLE "{pg_table}" (id bigint PRIMARY KEY, customer {kind}, created_at timestamptz, '
            "amount float8, note text, updated_at timestamptz)"
        )
        with pytest.raises(UnmappedColumnError, match="column customer is"):
            describe(spec(PG_URL, contract(), table=pg_table))
    finally:
        pg_exec(f'DROP TABLE IF EXISTS "{pg_table}"')
        pg_exec(f"DROP TYPE {kind}")


def test_naive_timestamp_maps_with_declared_timezone(pg_table):
    pg_exec(
        f'CREATE TABLE "{pg_table}" (id bigint PRIMARY KEY, customer text, created_at timestamp, '
        "amount numeric(10,2), note varchar(20), updated_at timestamptz)"
    )
    base = contract()
    cols = [c.model_dump() for c in base.columns]
    cols[2]["timezone"] = "Europe/Berlin"
    mapped = describe(spec(PG_URL, contract(columns=cols), table=pg_table))
    assert mapped["created_at"].type_text == "timestamp without time zone"


def test_query_source_is_described(pg_table):
    pg_exec(
        f'CREATE TABLE "{pg_table}" (id bigint PRIMARY KEY, customer text, created_at timestamptz, '
        "amount numeric(50,10), payload jsonb, updated_at timestamptz)"
    )
    query = (
        f"SELECT id, customer, created_at, amount::float8 AS amount, payload::text AS note, updated_at "
        f'FROM "{pg_table}"'
    )
    mapped = describe(spec(PG_URL, contract(), query=query))
    assert mapped["note"].kind.value == "text"


def test_missing_contract_column(pg_table):
    pg_exec(f'CREATE TABLE "{pg_table}" (id bigint PRIMARY KEY)')
    with pytest.raises(UnmappedColumnError, match="column customer of the contract is not in"):
        describe(spec(PG_URL, contract(), table=pg_table))


def test_connection_by_name():
    assert resolve_connection("shop_db", {"shop_db": PG_URL}).port == 5432
    with pytest.raises(ConfigError, match="SLUICE_DATABASES"):
        resolve_connection("other", {"shop_db": PG_URL})
    with pytest.raises(ConfigError):
        parse_url("oracle://x@h/db")


def test_table_name_must_be_identifiers():
    with pytest.raises(ConfigError):
        TableSpec(url=parse_url(PG_URL), contract=contract(), table='orders"; DROP TABLE x; --')
