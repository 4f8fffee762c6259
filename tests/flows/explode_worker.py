"""Runs one ingestion of a parent with exploded arrays in its own process.

``crash``: the process dies (``os._exit``) after the parent's commit, before
any child's; ``run``: it prints the parent's report and the child records as JSON.
"""

from __future__ import annotations

import json
import os
import sys

if __name__ == "__main__":
    from sluice import ingest
    from tests.flows.helpers import run_ingest

    mode, address, dataset, source, pattern = sys.argv[1:6]
    if mode == "crash":

        def _die(*_args: object, **_kwargs: object) -> None:
            os._exit(17)

        ingest.commit_children = _die  # type: ignore[assignment]
    report = run_ingest(address, dataset, source, pattern=pattern)
    print(json.dumps(report.to_dict(), default=str))
