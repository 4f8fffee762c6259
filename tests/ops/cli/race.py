"""Run ``ops`` in a subprocess that meets its peers between reading the incident and writing the postmortem.

``python -m tests.ops.cli.race <folder> <parties> <ops arguments>``: the
command's fact gathering first waits until ``parties`` processes have
reached it (each leaves a file in ``folder``), so concurrent ``ops
postmortem create`` runs have all read the incident before any of them
stores a postmortem: the race a person at two terminals can hit.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

WAIT_SECONDS = 60.0


def meet(folder: Path, parties: int) -> None:
    """Leave this process's mark in ``folder`` and wait until ``parties`` marks are there."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / str(os.getpid())).touch()
    deadline = time.monotonic() + WAIT_SECONDS
    while len(list(folder.iterdir())) < parties and time.monotonic() < deadline:
        time.sleep(0.02)


def main(argv: list[str]) -> None:
    from ops.cli import app
    from ops.postmortems import service

    folder, parties, *args = argv
    gather = service.collect_facts

    def collect_after_meeting(*a: Any, **k: Any) -> Any:
        meet(Path(folder), int(parties))
        return gather(*a, **k)

    service.collect_facts = collect_after_meeting
    app(args, prog_name="ops")


if __name__ == "__main__":
    main(sys.argv[1:])
