"""Runs a flow with Sluice's hooks that waits for a file, in a subprocess, so a test can judge a live run."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from prefect import flow

from flows.hooks import INCIDENT_HOOKS


@flow(name="sleep-probe", **INCIDENT_HOOKS)
def wait_for(release: str, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while not Path(release).exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


if __name__ == "__main__":
    wait_for(sys.argv[1])
