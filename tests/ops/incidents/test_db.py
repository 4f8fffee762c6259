"""The identity of an incident store, which keys its Prefect artifacts."""

from __future__ import annotations

from ops.incidents.db import store_identity


def test_one_database_has_one_identity_whatever_the_driver_or_login():
    assert store_identity("postgresql+psycopg://ops:secret@db:5432/incidents") == store_identity(
        "postgresql://reader@db:5432/incidents"
    )


def test_two_databases_have_two_identities(tmp_path):
    identities = {
        store_identity(f"sqlite:///{tmp_path / 'a' / 'incidents.db'}"),
        store_identity(f"sqlite:///{tmp_path / 'b' / 'incidents.db'}"),
        store_identity("postgresql+psycopg://ops@db:5432/incidents"),
        store_identity("postgresql+psycopg://ops@db:5432/incidents_staging"),
        store_identity("postgresql+psycopg://ops@db2:5432/incidents"),
    }
    assert len(identities) == 5
    assert all(len(i) == 8 and int(i, 16) >= 0 for i in identities)


def test_a_sqlite_store_is_named_by_its_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert store_identity("sqlite:///incidents.db") == store_identity(f"sqlite:///{tmp_path / 'incidents.db'}")
