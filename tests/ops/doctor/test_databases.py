"""The database checks of ``ops doctor`` against real servers: the shared PostgreSQL on 5432 (wal_level=replica),
a private logical-decoding cluster, MariaDB on 3306, and a port nothing listens on."""

from __future__ import annotations

import psycopg
import pytest

from ops.doctor.databases import check_database, check_databases
from ops.doctor.models import Status
from tests.ops.factories import closed_port_url
from tests.pgcluster import PgCluster, pg_logical  # noqa: F401 - the session fixture

pytestmark = pytest.mark.integration
SHARED = "postgresql://postgres@127.0.0.1:5432/test"
MARIADB = "mysql://root@127.0.0.1:3306/test"


@pytest.fixture()
def slot(pg_logical: PgCluster):
    name = "doctor_slot"
    with psycopg.connect(pg_logical.url(), autocommit=True) as conn:
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'wal2json')", (name,))
        conn.execute("CREATE PUBLICATION doctor_pub FOR ALL TABLES")
    yield name
    with psycopg.connect(pg_logical.url(), autocommit=True) as conn:
        conn.execute("SELECT pg_drop_replication_slot(%s)", (name,))
        conn.execute("DROP PUBLICATION doctor_pub")


def closed_port() -> int:
    return int(closed_port_url().rsplit(":", 1)[1].split("/")[0])


def test_a_reachable_database_with_valid_credentials_is_ok():
    (pg,) = check_database("Database shop", SHARED)
    (maria,) = check_database("Database maria", MARIADB)

    assert pg.status is Status.OK and "PostgreSQL 15" in pg.detail and "credentials are accepted" in pg.detail
    assert maria.status is Status.OK and "MariaDB" in maria.detail


def test_a_capture_server_without_logical_decoding_warns_with_the_setting_to_change():
    results = check_database("Capture source", SHARED, capture=True)

    (wal,) = [r for r in results if "wal_level" in r.detail]
    assert wal.status is Status.WARN and "wal_level is replica" in wal.detail
    assert "wal_level = logical" in wal.hint and "restart" in wal.hint


def test_a_logical_capture_server_with_its_slot_and_publication_passes(pg_logical, slot):
    results = check_database("Capture source", pg_logical.url(), capture=True, slots=[slot], publication="doctor_pub")

    assert [r.status for r in results] == [Status.OK] * 4, results
    assert "wal_level is logical" in results[1].detail
    assert f"slot {slot} (wal2json, database postgres) lags" in results[2].detail
    assert "publication doctor_pub exists" in results[3].detail


def test_a_missing_slot_or_publication_fails_saying_how_to_create_it(pg_logical):
    results = check_database("Capture source", pg_logical.url(), capture=True, slots=["nope"], publication="nopub")

    failed = [r for r in results if r.status is Status.FAIL]
    assert [r.detail for r in failed] == ["replication slot nope does not exist", "publication nopub does not exist"]
    assert "pg_create_logical_replication_slot('nope', 'wal2json')" in failed[0].hint
    assert "CREATE PUBLICATION nopub" in failed[1].hint


def test_wrong_credentials_fail_in_one_line_without_the_password():
    (maria,) = check_database("Database maria", "mysql://root:not-the-password@127.0.0.1:3306/test")
    (pg,) = check_database("Database shop", "postgresql://nobody:secretpw@127.0.0.1:5432/test")

    for result in (maria, pg):
        assert result.status is Status.FAIL and "refused the credentials" in result.detail
        assert "\n" not in result.detail and "not-the-password" not in result.detail and "secretpw" not in result.detail
        assert "check the user and password" in result.hint


def test_an_unreachable_port_fails_with_the_database_unreachable_runbook():
    port = closed_port()

    (result,) = check_database("Database shop", f"postgresql://postgres:pw@127.0.0.1:{port}/test")

    assert result.status is Status.FAIL
    assert result.detail.startswith(f"cannot reach postgresql://postgres@127.0.0.1:{port}/test")
    assert "\n" not in result.detail and ":pw@" not in result.detail and "database-unreachable" in result.hint


def test_a_url_that_does_not_parse_fails_in_one_line():
    (junk,) = check_database("Database junk", "not a url")
    (odd,) = check_database("Database odd", "oracle://scott@db/orcl")

    assert junk.status is odd.status is Status.FAIL
    assert junk.detail == "not a usable database URL: the database connection is not a URL"
    assert "'oracle' is not supported" in odd.detail and "postgresql://" in odd.hint


def test_every_named_database_is_checked_then_the_capture_server():
    results = check_databases({"b": MARIADB, "a": SHARED}, SHARED, slots=["missing"])

    assert [r.name for r in results][:2] == ["Database a", "Database b"]
    assert {r.name for r in results[2:]} == {"Capture source"}
    assert any(r.status is Status.FAIL and "missing" in r.detail for r in results)


def test_a_slot_to_check_without_a_capture_server_fails_saying_which_variable_to_set():
    (result,) = check_databases({}, None, slots=["s"])

    assert result.status is Status.FAIL and "SLUICE_CDC_DSN" in result.hint


def test_no_database_configured_means_no_database_check():
    assert check_databases({}, None) == []
