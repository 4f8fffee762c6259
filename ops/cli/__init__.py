"""The ``ops`` command: on-call tooling for Sluice.

One module per command group. Every module imports only ``typer``, ``rich``
and the standard library at import time, so ``ops --help`` stays fast.
"""

import gc

from ops.cli._app import app
from ops.cli._utilities import RAISE_ENV

__all__ = ["RAISE_ENV", "app", "main"]


def main() -> None:
    """Entry point of the ``ops`` console script.

    Garbage is collected before the interpreter shuts down: Arrow dataset scans keep native threads that must be
    joined while Arrow is still alive, or the process may abort at exit after its work is done.
    """
    try:
        app(prog_name="ops")
    finally:
        gc.collect()
