"""Runs one ingestion in a subprocess, so a test can SIGKILL it mid-write."""

from __future__ import annotations

import sys

if __name__ == "__main__":
    from tests.flows.helpers import run_ingest

    address, dataset, source = sys.argv[1:4]
    run_ingest(address, dataset, source)
