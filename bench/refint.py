"""Benchmark: what checking orders' references to customers adds to the ``ingest-files`` flow.

    python bench/refint.py [--rows 5000000] [--parents 1000000] [--orphans 0.01] [--files 10] [--rounds 1]
                           [--chunk-rows 500000]

Generates orders CSV files with :func:`demo.samples.generate_orders` and a
customers lake table of ``--parents`` keys (only ``customer_id``; a share
``--orphans`` of the ids the orders use is left out of it), neither timed.
Then times, in the same run, alternately and each in a fresh child process
into an empty lake holding only that customers table:

(p) plain: the orders contract without ``references:``;
(c) checked: the orders contract with ``customer_id`` referencing
    ``customers.customer_id``, policy ``warn`` (each orphan is counted, the row lands).

(p) runs before and after every (c); each (c) is compared with the mean of
the two (p) around it, as ``bench/ingest.py`` compares its runs, since the
machine's speed drifts. Peak memory is measured as in ``bench/ingest.py``
(:mod:`bench.meter`). (k) times the check alone as the flow runs it (the
parent keys made a :class:`sluice.validate.keyset.KeySet` once, every chunk
probing it), and (k0) the same chunks through ``pyarrow.compute.is_in``,
which hashes the parent keys again for every chunk. The last line is a
one-line summary: the added wall and CPU time as shares of the plain run's
(the target is at most 15 % for both).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest import _code_version, _configure, _in_child, _load, generate, run_flow
from bench.meter import GIB, Measured

CONTRACTS = Path(__file__).resolve().parent.parent / "sluice" / "contracts"


@dataclass(frozen=True)
class CheckCost:
    """CPU and wall seconds of the check alone, (k) as the flow runs it and (k0) the is_in baseline."""

    cpu: float
    wall: float
    cpu_is_in: float
    wall_is_in: float
    orphans: int
    chunks: int


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=5_000_000, help="order rows to generate (default 5,000,000)")
    parser.add_argument("--parents", type=int, default=1_000_000, help="customer keys in the lake (default 1,000,000)")
    parser.add_argument("--orphans", type=float, default=0.01, help="share of ids left out of customers (0.01)")
    parser.add_argument("--files", type=int, default=10, help="number of CSV files (default 10)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=1, help="(c) runs, each between two (p) runs (default 1)")
    parser.add_argument(
        "--chunk-rows", type=int, default=500_000, help="(k) chunk rows (default 500,000: the flow's, thread workers)"
    )
    parser.add_argument("--workdir", type=Path, default=None, help="where files and lakes go (default: a temp dir)")
    return parser.parse_args(argv)


def contracts(folder: Path, *, checked: bool) -> Path:
    """The shipped contracts, the orders contract with or without its references."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in CONTRACTS.glob("*.yaml"):
        shutil.copy(path, folder / path.name)
    orders = yaml.safe_load((CONTRACTS / "orders.yaml").read_text(encoding="utf-8"))
    orders["references"] = (
        [{"columns": ["customer_id"], "to": "customers.customer_id", "policy": "warn"}] if checked else []
    )
    (folder / "orders.yaml").write_text(yaml.safe_dump(orders, sort_keys=False), encoding="utf-8")
    return folder


def customer_keys(parents: int, orphans: float, seed: int) -> Any:
    """``parents`` customer ids of the ``C`` + six digits form, leaving out a share ``orphans`` of them."""
    import numpy as np
    import pyarrow as pa

    ids = np.arange(parents)
    kept = ids[np.random.default_rng(seed).random(parents) >= orphans]
    return pa.table({"customer_id": pa.array([f"C{i:06d}" for i in kept.tolist()], pa.string())})


def run_child(
    source: Path, contracts_dir: Path, parents: int, orphans: float, seed: int
) -> tuple[float, Any, Measured]:
    """One run in a fresh child process: the customers table is written (not timed), then the flow is timed."""
    from deltalake import write_deltalake

    from sluice.lake.table import table_uri
    from sluice.settings import get_settings

    os.environ["SLUICE_CONTRACTS_DIR"] = str(contracts_dir)
    settings = get_settings(fresh=True)
    write_deltalake(table_uri(settings.lake_root(), "customers"), customer_keys(parents, orphans, seed))
    seconds, report, mem = run_flow(source, "csv")
    if isinstance(report, Exception):
        report = f"{type(report).__name__}: {report}"
    return seconds, report, Measured.of(mem)


def check_cost(files: list[str], parents: int, orphans: float, seed: int, chunk_rows: int) -> CheckCost:
    """The check alone, on every order's ``customer_id`` in chunks as the flow validates them.

    (k): the parent's distinct keys made a :class:`sluice.validate.keyset.KeySet` once,
    then :func:`sluice.validate.references.orphan_mask` over every chunk, as the flow does;
    (k0): the strongest simple alternative, ``pyarrow.compute.is_in`` of every chunk against
    the distinct keys (Arrow hashes the keys again in each call).
    """
    import pyarrow.compute as pc
    import pyarrow.csv as pv

    from sluice.validate.keyset import KeySet
    from sluice.validate.references import Reference, distinct_keys, orphan_mask

    columns = pv.ConvertOptions(include_columns=["customer_id"], column_types={"customer_id": "string"})
    parse = pv.ParseOptions(invalid_row_handler=lambda row: "skip")
    tables = [pv.read_csv(path, convert_options=columns, parse_options=parse).combine_chunks() for path in files]
    chunks = [t.slice(start, chunk_rows) for t in tables for start in range(0, t.num_rows, chunk_rows)]
    table = customer_keys(parents, orphans, seed)
    ref = Reference(columns=["customer_id"], to="customers.customer_id")
    cpu, wall, found = time.process_time(), time.perf_counter(), 0
    keys = KeySet(distinct_keys(table, ["customer_id"]))
    for batch in chunks:
        found += int(orphan_mask(batch, ref, keys).sum())
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    cpu0, wall0, found0 = time.process_time(), time.perf_counter(), 0
    values = distinct_keys(table, ["customer_id"]).column(0).combine_chunks()
    for batch in chunks:
        column = batch.column("customer_id")
        hit = pc.is_in(column, value_set=values)
        found0 += int(pc.sum(pc.and_(column.is_valid(), pc.invert(hit))).as_py() or 0)
    cpu0, wall0 = time.process_time() - cpu0, time.perf_counter() - wall0
    if found0 != found:
        raise SystemExit(f"(k) found {found:,} orphans, (k0) {found0:,}: the two checks disagree")
    return CheckCost(cpu, wall, cpu0, wall0, found, len(chunks))


def _run(label: str, work: Path, source: Path, folder: Path, args: argparse.Namespace) -> tuple[float, Measured]:
    shutil.rmtree(work / "sluice-home", ignore_errors=True)
    seconds, report, mem = _in_child(run_child, source, folder, args.parents, args.orphans, args.seed)
    if isinstance(report, str):
        raise SystemExit(f"({label}) FLOW FAILED: {report}")
    orphaned = report.warnings.get("customer_id:orphan_reference", 0)
    print(
        f"({label}) {seconds:.1f} s, {report.rows_read / seconds:,.0f} rows/s, peak RSS {mem.peak / GIB:.2f} GiB "
        f"(largest child {mem.peak_child / GIB:.2f}), CPU {mem.cpu:.1f} s; read {report.rows_read:,} "
        f"written {report.rows_written:,} orphans {orphaned:,} (rows_orphaned {report.rows_orphaned:,}); "
        f"validate+stage {report.stage_seconds.get('read_validate_stage', 0.0):.1f} s"
    )
    return seconds, mem


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="sluice-refint-"))
    work.mkdir(parents=True, exist_ok=True)
    _configure(work)
    source = work / "source"
    shutil.rmtree(source, ignore_errors=True)
    started = time.perf_counter()
    manifest = _in_child(generate, source, args.rows, args.files, args.seed, "csv")
    print(f"generated {manifest.rows_total:,} order rows in {time.perf_counter() - started:.1f} s (not timed)")
    print(f"customers: {args.parents:,} ids, a share {args.orphans} of them left out (written per run, not timed)")
    print(_code_version())
    plain = contracts(work / "contracts-plain", checked=False)
    checked = contracts(work / "contracts-checked", checked=True)
    p_runs = [_run("p", work, source, plain, args)]
    chunk_rows = args.chunk_rows
    k = _in_child(check_cost, manifest.files, args.parents, args.orphans, args.seed, chunk_rows)
    cpu = k.cpu
    print(
        f"(k) the check alone (KeySet once, orphan_mask per {chunk_rows:,} rows, {k.chunks} chunks): "
        f"CPU {k.cpu:.2f} s, {k.wall:.2f} s, {k.orphans:,} orphans\n"
        f"(k0) pyarrow.compute.is_in per chunk: CPU {k.cpu_is_in:.2f} s, {k.wall_is_in:.2f} s; "
        f"(k0)/(k) CPU {k.cpu_is_in / k.cpu:.1f}x"
    )
    c_runs, shares, cpu_shares = [], [], []
    for i in range(args.rounds):
        print(f"round {i + 1} of {args.rounds}. {_load()}")
        c_runs.append(_run("c", work, source, checked, args))
        p_runs.append(_run("p", work, source, plain, args))
        p_mean = (p_runs[-2][0] + p_runs[-1][0]) / 2
        shares.append(c_runs[-1][0] / p_mean - 1)
        p_cpu = (p_runs[-2][1].cpu + p_runs[-1][1].cpu) / 2
        cpu_shares.append(c_runs[-1][1].cpu / p_cpu - 1)
        print(
            f"    added {shares[-1]:+.1%} wall (p: mean {p_mean:.1f} s of the runs before and after), "
            f"{cpu_shares[-1]:+.1%} CPU"
        )
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    added, added_cpu = statistics.median(shares), statistics.median(cpu_shares)
    within = added <= 0.15 and added_cpu <= 0.15
    p_cpu_median = statistics.median(m.cpu for _s, m in p_runs)
    print(
        f"refint added={added:+.1%} added_cpu={added_cpu:+.1%} "
        f"check_alone_cpu={cpu:.2f}s ({cpu / p_cpu_median:.1%} of the plain run's CPU; is_in per chunk "
        f"{k.cpu_is_in:.2f}s) target<=15% {'ok' if within else 'OVER'} "
        f"checked={statistics.median(s for s, _m in c_runs):.1f}s "
        f"plain={statistics.median(s for s, _m in p_runs):.1f}s "
        f"peak_rss_checked={max(m.peak for _s, m in c_runs) / GIB:.2f}GiB "
        f"peak_rss_plain={max(m.peak for _s, m in p_runs) / GIB:.2f}GiB "
        f"rows={args.rows:,} parents={args.parents:,} rounds={args.rounds}"
    )
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
