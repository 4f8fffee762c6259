"""Benchmark: an API endpoint synced into the lake against a plain httpx loop, with the same request budget.

    python bench/api.py [--records 20000] [--limit 500] [--rps 10] [--rounds 1]

Starts the local OAuth2 + REST server of the tests (:mod:`tests.apiserver`) in
a child process with ``--records`` accounts, an API rate limit of twice
``--rps``, and OAuth2 client credentials. Then, in this process, on the same
server and with the same budget (``--rps`` requests a second, spaced evenly):

(b) plain: an httpx client that fetches a token, pages ``/v1/accounts`` by
    offset (``--limit`` per page), parses each body, turns its records into an
    Arrow table and, at the end, writes them as one Parquet file;
(a) Sluice: :class:`sluice.sources.api.sync.EndpointSync` (the code the
    ``ingest-api`` flow runs: OAuth2 through authlib, the budget, JSONPath,
    contract validation, one upsert Delta commit per page with its position),
    into a fresh lake, without the metadata store's lease;
(b) plain again; (a) is compared with the mean of the two.

records/s is the records over each side's wall time. Both sides are bound by
the budget when a page's processing takes less than ``1 / --rps`` seconds:
the ratio then shows how much of the budget Sluice leaves unused. Peak memory
is the largest RSS of this process while a side runs (bench/meter.py; the
server process is metered apart).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.meter import GIB, ProcessMeter  # noqa: E402
from tests.sluice.sources.api.apifixtures import harness  # noqa: E402  (imported before any side is timed)

SERVER = """
import sys, time
from tests.apiserver import ApiServer
server = ApiServer(accounts=int(sys.argv[1]))
server.add_client("sluice", "first-secret")
server.state.rate = float(sys.argv[2])
with server:
    print(server.url, flush=True)
    sys.stdin.read()
"""


def start_server(records: int, rate: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(records), str(rate)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def plain(url: str, limit: int, rps: float, work: Path) -> int:
    """The plain loop: token, offset pages within the budget, Arrow tables, one Parquet file."""
    tables, offset, spacing, last = [], 0, 1.0 / rps, 0.0
    with httpx.Client(timeout=30) as client:
        token = client.post(
            f"{url}/oauth/token",
            data={"grant_type": "client_credentials", "client_id": "sluice", "client_secret": "first-secret"},
        ).json()["access_token"]
        while True:
            wait = last + spacing - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            last = time.monotonic()
            response = client.get(
                f"{url}/v1/accounts",
                params={"offset": offset, "limit": limit},
                headers={"Authorization": f"Bearer {token}"},
            )
            response.raise_for_status()
            items = json.loads(response.content)["data"]["items"]
            if items:
                tables.append(pa.Table.from_pylist(items))
            if len(items) < limit:
                break
            offset += limit
    table = pa.concat_tables(tables)
    pq.write_table(table, work / "plain.parquet")
    return table.num_rows


def sluice(url: str, limit: int, rps: float, work: Path) -> int:
    shutil.rmtree(work / "lake", ignore_errors=True)
    h = harness(work, url, limit=limit, rps=rps, commit_records=5000, max_wait_s=5)
    return h.sync().records


def measure(side: str, url: str, args: argparse.Namespace, work: Path, server_pid: int) -> tuple[float, int]:
    run = plain if side == "plain" else sluice
    with ProcessMeter(excluded_roots={server_pid}) as meter:
        started = time.perf_counter()
        records = run(url, args.limit, args.rps, work)
        seconds = time.perf_counter() - started
    if records != args.records:
        raise SystemExit(f"{side} read {records} records, not {args.records}")
    print(
        f"{side}: {records:,} records in {seconds:.2f} s = {records / seconds:,.0f} records/s, "
        f"peak RSS {meter.peak / GIB:.2f} GiB",
        flush=True,
    )
    return records / seconds, meter.peak


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", type=int, default=20_000)
    p.add_argument("--limit", type=int, default=500)
    p.add_argument("--rps", type=float, default=10.0)
    p.add_argument("--rounds", type=int, default=1)
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-api-"))
    server, url = start_server(args.records, args.rps * 2)
    ratios, peaks_a, peaks_b, rates_a, rates_b = [], [], [], [], []
    try:
        before = measure("plain", url, args, work, server.pid)
        for _ in range(args.rounds):
            rate_a, peak_a = measure("sluice", url, args, work, server.pid)
            after = measure("plain", url, args, work, server.pid)
            ratios.append(rate_a / ((before[0] + after[0]) / 2))
            rates_a.append(rate_a)
            rates_b += [before[0], after[0]]
            peaks_a.append(peak_a)
            peaks_b += [before[1], after[1]]
            before = after
    finally:
        if server.stdin:
            server.stdin.close()
        server.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    ratios.sort()
    print(
        f"ratio a/b={ratios[len(ratios) // 2]:.2f} sluice={sorted(rates_a)[len(rates_a) // 2]:,.0f} records/s "
        f"plain={sorted(rates_b)[len(rates_b) // 2]:,.0f} records/s budget={args.rps:g} req/s "
        f"page={args.limit} peak_rss_sluice={max(peaks_a) / GIB:.2f}GiB peak_rss_plain={max(peaks_b) / GIB:.2f}GiB "
        f"records={args.records:,} rounds={args.rounds}"
    )


if __name__ == "__main__":
    main()
