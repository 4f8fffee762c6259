"""Alembic environment of the incident store: runs on the connection handed over by ``ops.incidents.db.migrate``."""

from __future__ import annotations

from alembic import context

from ops.incidents.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection, target_metadata=Base.metadata, render_as_batch=True, version_table="incident_store_version"
)
with context.begin_transaction():
    context.run_migrations()
