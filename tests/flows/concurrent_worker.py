"""Runs one ingestion in its own process and prints its report as JSON, for the concurrent-runs test."""

from __future__ import annotations

import json
import sys

if __name__ == "__main__":
    from tests.flows.helpers import run_ingest

    address, dataset, source, pattern = sys.argv[1:5]
    report = run_ingest(address, dataset, source, pattern=pattern)
    print(json.dumps(report.to_dict(), default=str))
