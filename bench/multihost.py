"""Benchmark: the ``ingest-files`` flow on 1, 2 and 3 Dask worker hosts, staging and lake on S3.

    python bench/multihost.py [--rows 2000000] [--files 16] [--hosts 1 2 3] [--workdir DIR]

Needs root (``ip netns``). Hosts are network namespaces on a bridge
(:mod:`tests.hosts`): a storage host (moto's S3 server: sources, staging,
lake), a scheduler host (``dask scheduler``), a flow host (the flow, with
``SLUICE_DASK_ADDRESS``) and N worker hosts (one ``dask worker``, one thread,
each). The Prefect server runs on a fresh PostgreSQL database. The orders
files are generated once (:func:`demo.samples.generate_orders`, not timed)
and uploaded; each N ingests them into its own lake prefix, with fresh
workers.

All namespaces share this machine's cores, so the wall time cannot fall with
N here. What is measured instead, for each host, is the CPU seconds its
processes spent during the run (``/proc`` through psutil, worker processes
included) and the peak RSS of its processes. The critical path is the flow
host's CPU plus the busiest worker host's CPU: the wall time a cluster whose
hosts each have their own core would approach, leaving out waits on the
network and the object store. The 1-host run is the baseline every other N
is compared with (ratio of critical paths). The last line is a one-line
summary.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.meter import GIB
from tests.hosts import Host, host_network, netns_permitted
from tests.multihost import (
    Stack,
    code_env,
    make_bucket,
    postgres_database,
    prefect_server,
    start_s3,
    start_scheduler,
    start_worker,
    upload,
    wait_workers,
)

BUCKET = "bench"
SOURCE = f"s3://{BUCKET}/landing/orders"
FLOW = (
    "import json, sys; from flows.ingest_files import ingest_files; "
    "r = ingest_files(sys.argv[1], sys.argv[2]); print('REPORT ' + json.dumps(r.to_dict(), default=str))"
)


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--hosts", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--workdir", type=Path, default=None)
    return parser.parse_args(argv)


@dataclass
class HostMeter:
    """CPU seconds and peak RSS of every process of some hosts, sampled in a background thread."""

    hosts: list[Host]
    interval: float = 0.2
    cpu: dict[int, tuple[str, float, float]] = field(default_factory=dict)  # pid -> host, first, last
    peak: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def sample(self) -> None:
        for host in self.hosts:
            rss = 0
            for pid in host.pids():
                try:
                    proc = psutil.Process(pid)
                    times = proc.cpu_times()
                    rss += proc.memory_info().rss
                except psutil.Error:
                    continue
                spent = times.user + times.system
                _, first, _ = self.cpu.get(pid, (host.name, spent, spent))
                self.cpu[pid] = (host.name, first, spent)
            self.peak[host.name] = max(self.peak.get(host.name, 0), rss)

    def cpu_seconds(self, host: Host) -> float:
        return sum(last - first for name, first, last in self.cpu.values() if name == host.name)

    def __enter__(self) -> HostMeter:
        self.sample()
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.sample()


@dataclass(frozen=True)
class Result:
    hosts: int
    wall: float
    flow_cpu: float
    worker_cpu: list[float]
    worker_peak: list[int]
    rows_written: int

    @property
    def critical(self) -> float:
        return self.flow_cpu + max(self.worker_cpu)


def run_once(stack: Stack, workers: list[Host], flow_host: Host, n: int) -> Result:
    for host in workers:
        start_worker(host, stack.scheduler, stack.prefect_env())
    wait_workers(stack.scheduler, [h.name for h in workers])
    env = {
        **code_env(),
        **stack.prefect_env(),
        **stack.sluice_env(BUCKET),
        "SLUICE_LAKE_URI": f"s3://{BUCKET}/tables-{n}",
        "SLUICE_QUARANTINE_URI": f"s3://{BUCKET}/quarantine-{n}",
        "SLUICE_DASK_WORKERS": str(n),
    }
    with HostMeter([flow_host, *workers]) as meter:
        clock = time.perf_counter()
        proc = flow_host.start([sys.executable, "-c", FLOW, "orders", SOURCE], f"flow-{n}", env)
        proc.wait()
        wall = time.perf_counter() - clock
    log = flow_host.log(f"flow-{n}")
    if proc.returncode != 0:
        raise SystemExit(f"the flow failed on {n} host(s):\n{log[-3000:]}")
    report = json.loads(next(line for line in log.splitlines() if line.startswith("REPORT "))[7:])
    for host in workers:
        host.kill()
    _wait_no_workers(stack.scheduler)
    return Result(
        hosts=n,
        wall=wall,
        flow_cpu=meter.cpu_seconds(flow_host),
        worker_cpu=[meter.cpu_seconds(h) for h in workers],
        worker_peak=[meter.peak.get(h.name, 0) for h in workers],
        rows_written=int(report["rows_written"]),
    )


def _wait_no_workers(scheduler: str, timeout: float = 60.0) -> None:
    from distributed import Client

    with Client(scheduler, timeout=30) as client:
        deadline = time.monotonic() + timeout
        while client.scheduler_info()["workers"] and time.monotonic() < deadline:
            time.sleep(0.5)


def _print(result: Result, base: Result) -> None:
    cpus = " ".join(f"{c:6.1f}" for c in result.worker_cpu)
    peaks = " ".join(f"{p / GIB:4.2f}" for p in result.worker_peak)
    print(
        f"{result.hosts} host(s): wall {result.wall:6.1f} s | flow host CPU {result.flow_cpu:5.1f} s | "
        f"worker hosts CPU [{cpus}] s, sum {sum(result.worker_cpu):6.1f} | critical path {result.critical:6.1f} s "
        f"(x{base.critical / result.critical:4.2f} vs 1 host) | peak RSS per worker host [{peaks}] GiB | "
        f"rows written {result.rows_written:,}"
    )


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    reason = netns_permitted()
    if reason:
        print(f"cannot run: {reason}")
        return 1
    from demo.samples import generate_orders

    work = args.workdir or Path(tempfile.mkdtemp(prefix="sluice-bench-mh-"))
    names = ["storage", "scheduler", "flow", *(f"w{i}" for i in range(1, max(args.hosts) + 1))]
    print(f"{args.rows:,} orders rows in {args.files} files; {os.cpu_count()} cores shared by every host")
    with (
        host_network(names, work / "hosts") as net,
        postgres_database() as database,
        prefect_server(net.gateway, database, work / "prefect-server") as api,
    ):
        stack = Stack(net, start_s3(net["storage"]), start_scheduler(net["scheduler"]), api)
        manifest = generate_orders(work / "orders", rows=args.rows, files=args.files, seed=19)
        make_bucket(stack.s3_endpoint, BUCKET)
        upload(stack.s3_endpoint, manifest.files, SOURCE)
        results = []
        for n in args.hosts:
            workers = [net[f"w{i}"] for i in range(1, n + 1)]
            results.append(run_once(stack, workers, net["flow"], n))
            if results[-1].rows_written != manifest.rows_unique_valid:
                raise SystemExit(
                    f"{n} host(s) wrote {results[-1].rows_written:,} rows, not {manifest.rows_unique_valid:,}"
                )
            _print(results[-1], results[0])
    summary = ", ".join(f"{r.hosts}: {r.critical:.1f} s" for r in results)
    print(f"critical path (flow host CPU + busiest worker host CPU) by worker hosts: {summary}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
