"""Alembic environment of the chaos store: runs on the connection handed over by ``chaos.store.migrate``."""

from __future__ import annotations

from alembic import context

import chaos.journal  # noqa: F401  (registers the chaos tables on ChaosBase.metadata)
from chaos.store import VERSION_TABLE, ChaosBase

connection = context.config.attributes["connection"]
context.configure(
    connection=connection, target_metadata=ChaosBase.metadata, render_as_batch=True, version_table=VERSION_TABLE
)
with context.begin_transaction():
    context.run_migrations()
