"""Fixtures of the command tests: the ``incident_engine`` (SQLite and a fresh PostgreSQL database) for commands
run on both stores, and consoles that size themselves from ``COLUMNS`` whatever the order of the tests."""

from collections.abc import Iterator

import pytest

from tests.ops.incidents.conftest import incident_engine

__all__ = ["incident_engine"]


@pytest.fixture(autouse=True)
def _consoles_follow_columns(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Rich fixes a console's width from ``COLUMNS`` when the console is made (at the CLI's import): let every
    test's ``COLUMNS`` (or the 80-column default of a pipe) decide instead, as a user's terminal does."""
    from ops.cli._utilities import console, err_console

    for each in (console, err_console):
        monkeypatch.setattr(each, "_width", None)
    yield
