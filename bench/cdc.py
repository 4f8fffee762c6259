"""Benchmark: PostgreSQL change capture into the lake against ``pg_recvlogical`` writing the raw stream to a file.

    python bench/cdc.py [--changes 200000] [--lag-seconds 30] [--rate 200] [--tx-rows 1] [--workdir DIR]

Starts a private PostgreSQL 15 cluster (``wal_level=logical``, wal2json; as
the tests do, :mod:`tests.pgcluster`), creates a table and three wal2json
slots, then makes ``--changes`` changes in transactions of 100 (half inserts,
a quarter updates, a quarter deletes; not timed). Then, in the same run,
alternately, each in a fresh child process:

(b) the limit: ``pg_recvlogical --start --endpos <LSN> -f FILE --plugin wal2json``
    with the capture's wal2json options, streaming the raw JSON to a file;
(a) Sluice: :func:`sluice.sources.cdc.capture.capture` draining its slot into
    ``<dataset>_changes`` (decode, type with the contract, Delta commit with
    the slot position, advance the slot), batches of 10,000 changes;
(b) again on the third slot; (a) is compared with the mean of the two (b).

Peak memory is the summed RSS of the child process tree (bench/meter.py).
With ``--lag-seconds`` > 0 it then measures end-to-end lag (source commit to
lake commit) at a steady ``--rate`` of inserts a second, ``--tx-rows`` to a
transaction, written on schedule by a process of their own; once with a
following capture (poll every 0.2 s) and once with a drain every 10 s (what
a frequent schedule does: each drain stops at the server's position when it
started; before any flow-run start-up cost). It prints p50/p99 of each, and
the rate the writer reached and how far it fell behind its schedule at worst
(a rate the machine cannot sustain shows there). The last line is a one-line summary.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.meter import GIB, Measured, ProcessMeter

CONTRACT = """
name: accounts
owner: bench@sluice.example
freshness_sla: 1d
primary_key: [id]
partition: {column: created_at}
columns:
  - {name: id, type: int64}
  - {name: created_at, type: timestamp}
  - {name: name, type: string, nullable: true}
  - {name: balance, type: float64, nullable: true}
  - {name: active, type: bool, nullable: true}
"""
DDL = (
    "CREATE TABLE accounts (id bigint PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT clock_timestamp(), "
    "name text, balance double precision, active boolean)"
)
SLOTS = ("bench_recv_1", "bench_sluice", "bench_recv_2", "bench_lag")
CHANGE_LOOP = """
DO $$ BEGIN
  FOR i IN 0..{n} - 1 BY 100 LOOP
    {stmt};
    COMMIT;
  END LOOP;
END $$
"""


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--changes", type=int, default=200_000, help="changes to capture (default 200,000)")
    parser.add_argument("--lag-seconds", type=float, default=30.0, help="seconds of steady load per lag run (0: none)")
    parser.add_argument("--rate", type=int, default=200, help="changes (inserts) per second in the lag runs")
    parser.add_argument("--tx-rows", type=int, default=1, help="rows per transaction in the lag runs (default 1)")
    parser.add_argument("--workdir", type=Path, help="where the lake goes (default: a temporary folder)")
    parser.add_argument("--side", choices=["sluice"], help=argparse.SUPPRESS)
    parser.add_argument("--dsn", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def make_changes(conn: object, n: int) -> int:
    """``n`` changes in transactions of 100: n/2 inserts, n/4 updates, n/4 deletes; returns the count."""
    half, quarter = n // 2, n // 4
    stmts = [
        (half, "INSERT INTO accounts (id, name, balance, active) SELECT g, 'n' || g, g * 1.5, g % 2 = 0 "
               "FROM generate_series(i, i + 99) g"),
        (quarter, "UPDATE accounts SET name = name || '!', balance = balance + 1 WHERE id BETWEEN i AND i + 99"),
        (quarter, f"DELETE FROM accounts WHERE id BETWEEN {quarter} + i AND {quarter} + i + 99"),
    ]  # fmt: skip
    for count, stmt in stmts:
        conn.execute(CHANGE_LOOP.format(n=count, stmt=stmt))  # type: ignore[attr-defined]
    return half + 2 * quarter


def sluice_side(dsn: str, workdir: Path) -> None:
    """Child process (a): drain the slot into the lake; prints the counts as JSON."""
    from sluice.sources.cdc.capture import CaptureSpec, capture
    from sluice.sources.cdc.decode import TableRef
    from sluice.sources.cdc.sink import ChangesTable
    from sluice.validate.contracts import parse_contract

    contract = parse_contract(CONTRACT)
    sink = ChangesTable(contract, str(workdir / "lake"), workdir / "staging", str(workdir / "quarantine"))
    reports = capture(CaptureSpec(dsn, "bench_sluice", TableRef("public", "accounts", contract)), sink)
    print(json.dumps({"changes": sum(r.changes for r in reports), "written": sum(r.rows_written for r in reports)}))


def timed(cmd: list[str]) -> tuple[float, Measured, str]:
    with ProcessMeter() as mem:
        clock = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - clock
    if done.returncode:
        raise SystemExit(f"{cmd[0]} failed: {done.stderr.strip()[-500:]}")
    return seconds, Measured.of(mem), done.stdout


def recv_side(dsn: str, slot: str, endpos: str, out: Path) -> tuple[float, Measured, int]:
    from tests.pgcluster import PG_BIN

    opts = ["format-version=2", "include-transaction=true", "include-timestamp=true", "include-lsn=true",
            "add-tables=public.accounts"]  # fmt: skip
    cmd = [str(PG_BIN / "pg_recvlogical"), "-d", dsn, "--slot", slot, "--start", "--endpos", endpos, "-f", str(out)]
    cmd += ["--plugin", "wal2json", *(a for o in opts for a in ("-o", o))]
    seconds, measured, _ = timed(cmd)
    with out.open(encoding="utf-8") as lines:
        changes = sum(1 for line in lines if '"action":"I"' in line or '"action":"U"' in line or '"action":"D"' in line)
    return seconds, measured, changes


def drain(conn: object, spec: object, sink: object, target: int | None) -> None:
    """Capture batches until the slot is empty or, with ``target``, has passed it (what a bounded drain run does)."""
    from sluice.sources.cdc.capture import capture_batch

    while True:
        report = capture_batch(conn, spec, sink)  # type: ignore[arg-type]
        if not report.transactions or (target is not None and (report.slot_lsn or 0) >= target):
            return


@dataclass(frozen=True)
class Load:
    """What the lag runs' writer did: rows, seconds, and how far it fell behind its schedule at worst."""

    rows: int
    seconds: float
    worst_late_s: float

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def write_load(dsn: str, seconds: float, rate: int, tx_rows: int, out: Connection) -> None:
    """Child process: insert ``rate`` rows a second for ``seconds``, ``tx_rows`` per transaction, on schedule.

    A process of its own, so the capture's work in the bench process never holds it back.
    """
    import psycopg

    rows, worst = 0, 0.0
    with psycopg.connect(dsn, autocommit=True) as conn:
        first = int(conn.execute("SELECT coalesce(max(id), 0) + 1 FROM accounts").fetchone()[0])  # type: ignore[index]
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            ids = list(range(first + rows, first + rows + tx_rows))
            conn.execute("INSERT INTO accounts (id, name) SELECT unnest(%s::bigint[]), 'lag'", (ids,))
            rows += tx_rows
            due = start + rows / rate
            worst = max(worst, time.perf_counter() - due)
            time.sleep(max(0.0, due - time.perf_counter()))
        out.send(Load(rows, time.perf_counter() - start, worst))


def lag_run(
    dsn: str, workdir: Path, load: tuple[float, int, int], poll_s: float, drain_every: float | None
) -> tuple[list[float], Load]:
    """Lag of every change, source commit to lake commit, while ``load`` (seconds, rows a second, rows a
    transaction) inserts run in another process."""
    import multiprocessing

    from sluice.sources.cdc import slots
    from sluice.sources.cdc.capture import CaptureSpec
    from sluice.sources.cdc.decode import TableRef
    from sluice.sources.cdc.sink import ChangesTable
    from sluice.validate.contracts import parse_contract

    contract = parse_contract(CONTRACT)
    lags: list[float] = []

    class Timed(ChangesTable):
        def write(self, frame, position):  # type: ignore[no-untyped-def]
            written = super().write(frame, position)
            now = datetime.now(timezone.utc)
            lags.extend((now - ts).total_seconds() for ts in frame.column("_commit_ts").to_pylist())
            return written

    sink = Timed(contract, str(workdir / "lag-lake"), workdir / "lag-staging", str(workdir / "lag-quarantine"))
    spec = CaptureSpec(dsn, "bench_lag", TableRef("public", "accounts", contract))
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    writer = ctx.Process(target=write_load, args=(dsn, *load, send))
    with slots.connect(dsn, spec.slot) as conn:
        drain(conn, spec, sink, None)  # what the slot holds from before: not measured
        lags.clear()
        writer.start()
        last = time.perf_counter()
        while True:
            done = not writer.is_alive()
            if drain_every is not None:
                time.sleep(max(0.0, last + drain_every - time.perf_counter()))
                last = time.perf_counter()
            drain(conn, spec, sink, slots.slot_info(conn, spec.slot).current_lsn if drain_every else None)
            if done:
                break
            if drain_every is None:
                time.sleep(poll_s)
    writer.join()
    if writer.exitcode or not receive.poll():
        raise SystemExit(f"the lag writer failed (exit code {writer.exitcode})")
    return lags, receive.recv()


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def main(argv: list[str] | None = None) -> None:
    args = _args(argv)
    if args.side == "sluice":
        sluice_side(args.dsn, args.workdir)
        return
    import psycopg

    from tests.pgcluster import LOGICAL, running_cluster

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="sluice-bench-cdc-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        with running_cluster(LOGICAL) as cluster:
            dsn = cluster.url()
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(DDL)
                for slot in SLOTS:
                    conn.execute("SELECT pg_create_logical_replication_slot(%s, 'wal2json')", (slot,))
                made = make_changes(conn, args.changes)
                endpos = str(conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0])  # type: ignore[index]
            print(f"{made:,} changes in transactions of 100 on a private PostgreSQL 15 cluster", flush=True)
            b1 = recv_side(dsn, SLOTS[0], endpos, workdir / "recv-1.json")
            print(f"(b) pg_recvlogical: {b1[0]:.1f} s, {b1[2]:,} changes, peak RSS {b1[1].peak / GIB:.3f} GiB")
            cmd = [sys.executable, __file__, "--side", "sluice", "--dsn", dsn, "--workdir", str(workdir)]
            a_s, a_m, out = timed(cmd)
            counts = json.loads(out.strip().splitlines()[-1])
            print(f"(a) Sluice capture: {a_s:.1f} s ({counts['changes'] / a_s:,.0f} changes/s), {counts['changes']:,} "
                  f"changes, {counts['written']:,} written, peak RSS {a_m.peak / GIB:.3f} GiB (PSS "
                  f"{a_m.peak_pss / GIB:.3f}), CPU {a_m.cpu:.1f} s")  # fmt: skip
            b2 = recv_side(dsn, SLOTS[2], endpos, workdir / "recv-2.json")
            print(f"(b) pg_recvlogical: {b2[0]:.1f} s, {b2[2]:,} changes, peak RSS {b2[1].peak / GIB:.3f} GiB")
            ratio = ((b1[0] + b2[0]) / 2) / a_s
            matched = counts["changes"] == counts["written"] == made == b1[2] == b2[2]
            lag_line = ""
            if args.lag_seconds > 0:
                load = (args.lag_seconds, args.rate, args.tx_rows)
                follow, load_f = lag_run(dsn, workdir, load, 0.2, None)
                drain, load_d = lag_run(dsn, workdir, load, 0.2, 10.0)
                for name, lags, done in (("follow (poll 0.2 s)", follow, load_f), ("drain every 10 s", drain, load_d)):
                    print(f"lag {name}: {len(lags):,} changes, p50 {pct(lags, 50):.2f} s, p99 {pct(lags, 99):.2f} s; "
                          f"load {done.rate:,.0f} changes/s over {done.seconds:.1f} s (asked {args.rate:,}, "
                          f"{args.tx_rows} a transaction), at worst {done.worst_late_s:.2f} s behind")  # fmt: skip
                lag_line = (f", lag p50/p99 follow {pct(follow, 50):.2f}/{pct(follow, 99):.2f} s, "
                            f"drain-10s {pct(drain, 50):.2f}/{pct(drain, 99):.2f} s")  # fmt: skip
            print(f"summary: {made:,} changes, a/b {ratio:.2f}, Sluice {a_s:.1f} s, pg_recvlogical "
                  f"{(b1[0] + b2[0]) / 2:.1f} s, peak RSS {a_m.peak / GIB:.3f} GiB vs "
                  f"{max(b1[1].peak, b2[1].peak) / GIB:.3f} GiB, counts {'matched' if matched else 'MISMATCH'}"
                  f"{lag_line}")  # fmt: skip
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
