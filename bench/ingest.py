"""Benchmark: the ``ingest-files`` flow against a plain pyarrow copy of the same files to Parquet.

    python bench/ingest.py [--rows 5000000] [--files 10] [--rounds 1] [--format csv|jsonl] [--workdir DIR] [--keep]

Generates orders CSV files with :func:`demo.samples.generate_orders` (not
timed, in a child process), then times, in the same run, alternately:

(b) pyarrow: every file read with ``pyarrow.csv.read_csv`` (multi-threaded,
    malformed lines skipped) and written with ``pyarrow.parquet.write_table``;
    no validation, no deduplication. With ``--format jsonl`` the files are
    JSON Lines, which Arrow's reader refuses whole as soon as one line is
    malformed or a column holds both numbers and text; so (b) reads, with
    ``pyarrow.json.read_json`` (type inference on), a copy of each file
    without those lines (made untimed, with the files), and writes it;
(a) Sluice: ``ingest_files("orders", <dir>, "*.<format>")`` into an empty lake,
    under Prefect's test harness; the server start is not timed, the Dask
    cluster start and all of the flow are.

Each is run in a fresh child process, so no run inherits another's memory
or warm processes. (b) runs before and after every (a), and each (a) is
compared with the mean of the two (b) around it: the machine's speed can
drift by a third within minutes, and a (b) measured only once, before, would
carry that drift into the ratio. With ``--rounds N`` the summary line gives
the median of the N ratios.

Peak memory is the summed RSS of the measured process and its descendants
(Dask worker processes and the fork server they come from, when the workers
are processes), sampled every 0.1 s; the Prefect server's processes are
reported apart. RSS counts a page shared by several processes once in each,
so the summed PSS (each shared page split between its sharers, sampled once
a second) is printed too. The last line is a one-line summary.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.meter import GIB, STEP, Measured, ProcessMeter

BENCH_DIRS = ("source", "pyarrow-out", "sluice-home", "prefect-home")  # what the bench makes under --workdir


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=5_000_000, help="data rows to generate (default 5,000,000)")
    parser.add_argument("--files", type=int, default=10, help="number of CSV files (default 10)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="(a) runs, each between two (b) runs; the summary gives the median ratio (default 1)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="where files, lake and output go; its source, lake and Parquet folders are "
        "cleared first (default: a new temp dir)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the generated files, lake and Parquet copy")
    parser.add_argument(
        "--format", choices=["csv", "jsonl"], default="csv", help="file format of the generated orders (default csv)"
    )
    return parser.parse_args(argv)


def _configure(work: Path) -> None:
    """Point Sluice and Prefect at ``work`` before either is imported."""
    os.environ["SLUICE_HOME"] = str(work / "sluice-home")
    os.environ["PREFECT_HOME"] = str(work / "prefect-home")
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


def _code_version() -> str:
    """The commit the bench runs on, and whether the work tree differs from it."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "code: unknown (not a git checkout)"
    return f"code: {head}" + (" with uncommitted changes" if dirty else "")


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def _in_child(fn: Any, *args: Any) -> Any:
    """Run ``fn`` in a fresh process, so its memory never counts towards the flow's."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def generate(source: Path, rows: int, files: int, seed: int, fmt: str = "csv") -> Any:
    from demo.samples import generate_orders

    manifest = generate_orders(source, rows=rows, files=files, seed=seed, fmt=fmt)
    if fmt == "jsonl":
        for path in manifest.files:
            arrow_ready_copy(path)
    return manifest


def run_pyarrow_child(files: list[str], out_dir: Path, fmt: str = "csv") -> tuple[float, int, float, float]:
    """(b) in a child process: seconds, rows, peak RSS (bytes) and CPU seconds."""
    seconds, rows, mem = run_pyarrow(files, out_dir) if fmt == "csv" else run_pyarrow_json(files, out_dir)
    return seconds, rows, float(mem.peak), mem.cpu_seconds()


def run_pyarrow(files: list[str], out_dir: Path) -> tuple[float, int, ProcessMeter]:
    """(b): read each CSV with pyarrow (threads on, malformed lines skipped) and write it as Parquet."""
    import pyarrow.csv as pv
    import pyarrow.parquet as pq

    out_dir.mkdir(parents=True, exist_ok=True)
    parse = pv.ParseOptions(invalid_row_handler=lambda row: "skip")
    rows = 0
    with ProcessMeter() as mem:
        started = time.perf_counter()
        for path in files:
            table = pv.read_csv(path, read_options=pv.ReadOptions(use_threads=True), parse_options=parse)
            pq.write_table(table, out_dir / (Path(path).stem + ".parquet"))
            rows += table.num_rows
            del table
        seconds = time.perf_counter() - started
    return seconds, rows, mem


def arrow_ready_copy(path: str) -> str:
    """A copy of a JSON Lines file without the lines Arrow's reader would refuse the whole file for.

    Kept: JSON objects whose every value has the JSON type the first such
    line gave its key (null fits any). Written beside, as ``<name>.arrow-ready``.
    """
    import json

    kinds: dict[str, type] = {}
    out_path = path + ".arrow-ready"
    with open(path, "rb") as src, open(out_path, "wb") as out:
        for line in src:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if not isinstance(record, dict):
                continue
            seen = {k: float if type(v) is int else type(v) for k, v in record.items() if v is not None}
            if all(kinds.setdefault(k, t) is t for k, t in seen.items()):
                out.write(line)
    return out_path


def run_pyarrow_json(files: list[str], out_dir: Path) -> tuple[float, int, ProcessMeter]:
    """(b) for JSON Lines: ``read_json`` of each file's Arrow-ready copy, written as Parquet."""
    import pyarrow.json as pj
    import pyarrow.parquet as pq

    out_dir.mkdir(parents=True, exist_ok=True)
    rows = 0
    with ProcessMeter() as mem:
        started = time.perf_counter()
        for path in files:
            table = pj.read_json(path + ".arrow-ready")
            pq.write_table(table, out_dir / (Path(path).stem + ".parquet"))
            rows += table.num_rows
            del table
        seconds = time.perf_counter() - started
    return seconds, rows, mem


def run_flow_child(source: Path, fmt: str = "csv") -> tuple[float, Any, Measured]:
    """(a) in a child process: seconds, the run report (or the failure as text) and what was measured."""
    seconds, report, mem = run_flow(source, fmt)
    if isinstance(report, Exception):
        report = f"{type(report).__name__}: {report}"
    return seconds, report, Measured.of(mem)


def run_flow(source: Path, fmt: str = "csv") -> tuple[float, Any, ProcessMeter]:
    """(a): the full ingest-files flow under the Prefect test harness (server start not timed).

    Returns the run report, or the exception if the flow failed.
    """
    from prefect.testing.utilities import prefect_test_harness

    from flows.ingest_files import ingest_files
    from sluice.settings import get_settings

    get_settings(fresh=True)
    with prefect_test_harness(server_startup_timeout=90):
        logging.getLogger("distributed").setLevel(logging.WARNING)  # cluster start/stop chatter
        server = {c.pid for c in psutil.Process().children()}
        with ProcessMeter(excluded_roots=server) as mem:
            started = time.perf_counter()
            try:
                report = ingest_files("orders", str(source), f"*.{fmt}")
            except Exception as exc:  # noqa: BLE001 - measured and reported all the same
                report = exc
            seconds = time.perf_counter() - started
    return seconds, report, mem


def compare(report: Any, manifest: Any) -> list[tuple[str, int, int]]:
    """(name, reported, expected) for each count the manifest predicts."""
    return [
        ("rows_read", report.rows_read, manifest.rows_total),
        ("rows_written", report.rows_written, manifest.rows_unique_valid),
        ("rows_quarantined", report.rows_quarantined, manifest.rows_bad),
        ("rows_duplicate", report.rows_duplicate, manifest.rows_duplicate),
        ("warnings", sum(report.warnings.values()), manifest.warnings),
    ]


def _print_flow(seconds: float, report: Any, mem: Measured, manifest: Any) -> bool:
    rows = manifest.rows_total
    print(
        f"(a) sluice ingest_files: {seconds:.1f} s, {rows / seconds:,.0f} rows/s, peak RSS {mem.peak / GIB:.2f} GiB "
        f"(flow process {mem.peak_main / GIB:.2f}, largest child {mem.peak_child / GIB:.2f}; "
        f"summed PSS {mem.peak_pss / GIB:.2f} GiB), CPU {mem.cpu:.1f} s (flow process {mem.cpu_main:.1f} s)"
    )
    print(
        f"    Prefect test server (excluded above): peak RSS {mem.peak_excluded / GIB:.2f} GiB, "
        f"CPU {mem.cpu_excluded:.1f} s"
    )
    if isinstance(report, str):
        print(f"    FLOW FAILED: {report}")
        return False
    print(f"    RSS by {STEP:.0f} s from the flow call, GiB: {mem.timeline}")
    stages = dict(report.stage_seconds)
    stages["other (cluster start/stop, records, artifacts)"] = seconds - sum(stages.values())
    print("    stages: " + ", ".join(f"{k}={v:.1f}s" for k, v in stages.items()))
    print("    files: " + ", ".join(f"{Path(f.uri).name}={f.seconds:.1f}s" for f in report.files))
    matched = True
    for name, got, want in compare(report, manifest):
        matched &= got == want
        print(f"    {name:<17} reported {got:>11,}  expected {want:>11,}  {'ok' if got == want else 'MISMATCH'}")
    print(f"    result vs manifest: {'MATCHED' if matched else 'DID NOT MATCH'}")
    return matched


class PyarrowRun(NamedTuple):
    seconds: float
    rows: int
    peak: float
    cpu: float


def _run_b(manifest: Any, work: Path, fmt: str = "csv") -> PyarrowRun:
    """One (b) run in a child process, printed."""
    shutil.rmtree(work / "pyarrow-out", ignore_errors=True)
    b = PyarrowRun(*_in_child(run_pyarrow_child, manifest.files, work / "pyarrow-out", fmt))
    print(
        f"(b) pyarrow read_{'csv' if fmt == 'csv' else 'json'} + write_table: {b.seconds:.1f} s, "
        f"{manifest.rows_total / b.seconds:,.0f} rows/s, "
        f"peak RSS {b.peak / GIB:.2f} GiB, CPU {b.cpu:.1f} s ({b.rows:,} rows parsed; run in a child process)"
    )
    return b


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="sluice-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    _configure(work)
    source = work / "source"
    for name in BENCH_DIRS:  # a kept lake from an earlier run would make every file "already committed"
        shutil.rmtree(work / name, ignore_errors=True)
    started = time.perf_counter()
    manifest = _in_child(generate, source, args.rows, args.files, args.seed, args.format)
    size = sum(Path(f).stat().st_size for f in manifest.files)
    print(
        f"generated {manifest.rows_total:,} rows, {len(manifest.files)} {args.format} files, {size / 2**20:,.0f} MiB "
        f"in {time.perf_counter() - started:.1f} s (not timed)"
    )
    print(
        f"manifest: unique_valid={manifest.rows_unique_valid:,} bad={manifest.rows_bad:,} "
        f"duplicate={manifest.rows_duplicate:,} warnings={manifest.warnings:,}"
    )
    print(_code_version())
    print(_load())
    b_runs = [_run_b(manifest, work, args.format)]
    a_runs: list[tuple[float, Measured]] = []
    ratios: list[float] = []
    matched = True
    for i in range(args.rounds):
        shutil.rmtree(work / "sluice-home", ignore_errors=True)  # every (a) starts from an empty lake
        print(f"round {i + 1} of {args.rounds}. {_load()}")
        a_seconds, report, a_mem = _in_child(run_flow_child, source, args.format)
        matched &= _print_flow(a_seconds, report, a_mem, manifest)
        a_runs.append((a_seconds, a_mem))
        b_runs.append(_run_b(manifest, work, args.format))
        b_mean = (b_runs[-2].seconds + b_runs[-1].seconds) / 2
        ratios.append(b_mean / a_seconds)
        print(f"    ratio a/b={ratios[-1]:.2f} (b: mean {b_mean:.1f} s of the runs before and after)")
    print(_load())
    if not args.keep:
        for name in BENCH_DIRS:
            shutil.rmtree(work / name, ignore_errors=True)
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    a_median = statistics.median(a for a, _m in a_runs)
    b_median = statistics.median(b.seconds for b in b_runs)
    rows = manifest.rows_total
    print(
        f"ratio a/b={statistics.median(ratios):.2f} sluice={rows / a_median:,.0f} rows/s "
        f"pyarrow={rows / b_median:,.0f} rows/s "
        f"peak_rss_sluice={max(m.peak for _a, m in a_runs) / GIB:.2f}GiB "
        f"peak_pss_sluice={max(m.peak_pss for _a, m in a_runs) / GIB:.2f}GiB "
        f"peak_rss_pyarrow={max(b.peak for b in b_runs) / GIB:.2f}GiB "
        f"rows={rows:,} format={args.format} rounds={args.rounds} "
        f"cpu_s_sluice={statistics.median(m.cpu for _a, m in a_runs):.1f} "
        f"cpu_s_pyarrow={statistics.median(b.cpu for b in b_runs):.1f} matched={'yes' if matched else 'no'}"
    )
    return 0 if matched else 1


if __name__ == "__main__":
    sys.exit(main())
