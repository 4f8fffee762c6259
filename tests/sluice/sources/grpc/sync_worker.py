"""A process that syncs the local feed into a lake until it is killed (the crash test)."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.sluice.sources.grpc.grpcfixtures import harness


def main(lake: str, target: str) -> None:
    h = harness(Path(lake), target, batching={"records": 7, "seconds": 60})
    while True:
        h.sync()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
