"""Benchmark: decoding wal2json rows into transactions and an Arrow frame of changes, without a server.

    python bench/cdc_decode.py [--changes 50000] [--repeat 5]

Builds ``--changes`` wal2json format-version 2 rows for the ``accounts``
contract of ``bench/cdc.py`` (in transactions of 100: half inserts, a quarter
updates, a quarter deletes, as ``bench/cdc.py`` makes them; not timed), then
times :func:`sluice.sources.cdc.decode.transactions` and
:func:`~sluice.sources.cdc.decode.to_frame` over them in this process and
prints the best CPU seconds of ``--repeat`` rounds. This is the part of a
capture batch that runs in Python for every change.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cdc import CONTRACT


def wal2json_rows(changes: int) -> list[tuple[str, str, str]]:
    """``(lsn, xid, data)`` rows as ``pg_logical_slot_peek_changes`` returns them."""
    rows, lsn = [], 1000
    for xid in range(changes // 100):
        rows.append((f"0/{lsn:X}", str(xid), json.dumps({"action": "B", "xid": xid})))
        for k in range(100):
            lsn, i = lsn + 100, xid * 100 + k
            action = "I" if k < 50 else "U" if k < 75 else "D"
            cols = [
                {"name": "id", "type": "bigint", "value": i},
                {"name": "created_at", "type": "timestamp with time zone", "value": "2026-12-02 15:00:00.123456+00"},
                {"name": "name", "type": "text", "value": f"n{i}"},
                {"name": "balance", "type": "double precision", "value": i * 1.5},
                {"name": "active", "type": "boolean", "value": i % 2 == 0},
            ]
            raw: dict[str, object] = {"action": action, "schema": "public", "table": "accounts", "lsn": f"0/{lsn:X}"}
            if action != "D":
                raw["columns"] = cols
            if action != "I":
                raw["identity"] = cols[:1]
            rows.append((f"0/{lsn:X}", str(xid), json.dumps(raw)))
        lsn += 100
        commit = {"action": "C", "xid": xid, "timestamp": "2026-12-02 15:00:01.5+00"}
        rows.append((f"0/{lsn:X}", str(xid), json.dumps(commit)))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--changes", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    from sluice.sources.cdc.decode import TableRef, to_frame, transactions
    from sluice.validate.contracts import parse_contract

    contract = parse_contract(CONTRACT)
    ref = TableRef("public", "accounts", contract)
    rows = wal2json_rows(args.changes)
    best = float("inf")
    for _ in range(args.repeat):
        started = time.process_time()
        frame = to_frame(transactions(rows, ref), contract)
        best = min(best, time.process_time() - started)
    print(
        f"decode {frame.num_rows:,} changes: best {best:.3f} CPU s of {args.repeat} "
        f"({best / frame.num_rows * 1e6:.1f} µs a change)"
    )


if __name__ == "__main__":
    main()
