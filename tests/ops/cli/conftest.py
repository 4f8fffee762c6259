"""The ``incident_engine`` fixture (SQLite and a fresh PostgreSQL database) for commands run on both stores."""

from tests.ops.incidents.conftest import incident_engine

__all__ = ["incident_engine"]
