"""Runs the capture loop forever in a subprocess, so a test can SIGKILL it at any point."""

from __future__ import annotations

import sys
import time
from pathlib import Path

if __name__ == "__main__":
    from sluice.runs.metastore import engine_for
    from sluice.sources.cdc.capture import CaptureSpec, capture
    from sluice.sources.cdc.decode import TableRef
    from sluice.sources.cdc.errors import SlotInUseError
    from sluice.sources.cdc.sink import ChangesTable
    from sluice.validate.contracts import parse_contract
    from tests.sluice.sources.cdc.conftest import ACCOUNTS

    dsn, slot, home = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    contract = parse_contract(ACCOUNTS)
    engine = engine_for(f"sqlite:///{home / 'sluice.db'}")
    sink = ChangesTable(contract, str(home / "lake"), home / "staging", str(home / "quarantine"), engine=engine)
    spec = CaptureSpec(dsn, slot, TableRef("public", "accounts", contract), batch_changes=int(sys.argv[4]))
    print("ready", flush=True)  # imports done: the test's kill clock starts here, however loaded the machine
    while True:
        try:
            capture(spec, sink, idle_stop=False, idle_sleep_s=0.05)
        except SlotInUseError:
            time.sleep(0.05)
