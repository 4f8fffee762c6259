"""The ``ops`` command: on-call tooling for Sluice.

One module per command group. Every module imports only ``typer``, ``rich``
and the standard library at import time, so ``ops --help`` stays fast.
"""

from ops.cli._app import app
from ops.cli._utilities import RAISE_ENV

__all__ = ["RAISE_ENV", "app", "main"]


def main() -> None:
    """Entry point of the ``ops`` console script."""
    app(prog_name="ops")
