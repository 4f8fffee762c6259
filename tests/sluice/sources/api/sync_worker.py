"""A process that syncs the accounts endpoint of a local API into a lake until it is killed (the crash test)."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.sluice.sources.api.apifixtures import harness


def main(lake: str, url: str) -> None:
    h = harness(Path(lake), url, limit=5, rps=40, commit_records=10)
    while True:
        h.sync()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
