"""The PostgreSQL the tests expect on 127.0.0.1:5432 (database ``test``, trust authentication)."""

from __future__ import annotations

import sqlalchemy as sa

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_available() -> bool:
    try:
        with sa.create_engine(POSTGRES_URL).connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - any failure means "not here"
        return False
