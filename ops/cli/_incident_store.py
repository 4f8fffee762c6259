"""A transaction on the incident store, for the commands that read or change incidents."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ops.cli._utilities import load_settings
from sluice.errors import SluiceError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session


def incident_engine() -> Engine:
    """The engine of the store at ``store_url(SLUICE_HOME)``, migrated.

    Raises:
        SluiceError: the store cannot be opened (the URL is shown without its password).
    """
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    from ops.incidents.db import open_engine, store_url

    url = store_url(load_settings().home)
    try:
        engine = open_engine(url)
    except (sa.exc.SQLAlchemyError, ImportError) as exc:
        parsed = make_url(url)
        detail = str(exc).strip().splitlines()[0]
        if parsed.password:
            detail = detail.replace(parsed.password, "***")
        raise SluiceError(f"cannot open the incident store at {parsed.render_as_string(hide_password=True)}: "
                          f"{detail}", hint="check SLUICE_INCIDENTS_URL; the default is <SLUICE_HOME>/incidents.db"
                          ) from None
    return engine


@contextmanager
def incident_session() -> Iterator[Session]:
    """A session on the incident store, committed when the block ends without error."""
    from ops.incidents.db import transaction

    with transaction(incident_engine()) as session:
        yield session
