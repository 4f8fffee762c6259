"""The stores the commands read: the incident store, the chaos store and the metadata store of run records."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ops.cli._utilities import load_settings
from sluice.errors import SluiceError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine
    from sqlalchemy.orm import Session


def store_error(what: str, url: str, exc: BaseException, hint: str) -> SluiceError:
    """``what`` failed on the store at ``url``: the error's first line, the URL and the message without a password."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    detail = str(exc).strip().splitlines()[0]
    if parsed.password:
        detail = detail.replace(parsed.password, "***")
    return SluiceError(f"{what} at {parsed.render_as_string(hide_password=True)}: {detail}", hint=hint)


def incident_engine() -> Engine:
    """The engine of the store at ``store_url(SLUICE_HOME)``, migrated.

    Raises:
        SluiceError: the store cannot be opened (the URL is shown without its password).
    """
    import sqlalchemy as sa

    from ops.incidents.db import open_engine, store_url

    url = store_url(load_settings().home)
    try:
        engine = open_engine(url)
    except (sa.exc.SQLAlchemyError, ImportError) as exc:
        raise store_error(
            "cannot open the incident store",
            url,
            exc,
            "check SLUICE_INCIDENTS_URL; the default is <SLUICE_HOME>/incidents.db",
        ) from None
    return engine


def chaos_engine() -> Engine:
    """The engine of the chaos store (drill journals, in the incident store's database), migrated.

    Raises:
        SluiceError: the store cannot be opened (the URL is shown without its password).
    """
    import sqlalchemy as sa

    from chaos.store import chaos_store_url, open_chaos_engine

    url = chaos_store_url()
    try:
        return open_chaos_engine(url)
    except (sa.exc.SQLAlchemyError, ImportError) as exc:
        raise store_error(
            "cannot open the chaos store",
            url,
            exc,
            "check SLUICE_INCIDENTS_URL: drills are kept in the incident store's database",
        ) from None


@contextmanager
def incident_session() -> Iterator[Session]:
    """A session on the incident store, committed when the block ends without error."""
    from ops.incidents.db import transaction

    with transaction(incident_engine()) as session:
        yield session


@contextmanager
def metadata_store() -> Iterator[Connection]:
    """A read connection to the metadata store; failures become a ``SluiceError`` with the URL masked."""
    import sqlalchemy as sa

    from sluice.runs.metastore import engine_for

    url = load_settings().metadata_db_url()
    try:
        with engine_for(url).connect() as conn:
            yield conn
    except (sa.exc.SQLAlchemyError, ImportError) as exc:
        raise store_error(
            "cannot read the metadata store", url, exc, "check SLUICE_METADATA_URL; `ops doctor` checks the connection"
        ) from None
