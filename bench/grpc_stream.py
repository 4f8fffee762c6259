"""Benchmark: a gRPC stream synced into the lake against a plain grpcio loop over the same local server.

    python bench/grpc_stream.py [--events 20000] [--batch 5000]

Starts the local feed server of the tests (:mod:`tests.grpcserver`) in a child
process with ``--events`` events. Then, in this process:

(b) plain: a grpcio call that reads every message, parses it, turns the
    messages into an Arrow table (``MessageToDict``) and writes one Parquet file;
(a) Sluice: :class:`sluice.sources.grpc.sync.StreamSync` (the code the
    ``ingest-grpc`` flow runs: stubs from the .proto, contract validation, one
    Delta commit per ``--batch`` messages with its resume token) into a fresh
    lake, without the metadata store's lease;
(b) plain again; (a) is compared with the mean of the two. messages/s is the
messages over each side's wall time.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc  # type: ignore[import-untyped]
import pyarrow as pa
import pyarrow.parquet as pq
from google.protobuf import json_format

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.grpcserver import METHOD, PROTO, SERVICE  # noqa: E402
from tests.sluice.sources.grpc.grpcfixtures import harness  # noqa: E402

SERVER = """
import sys
from tests.grpcserver import FeedServer
with FeedServer(events=int(sys.argv[1])) as server:
    print(server.target, flush=True)
    sys.stdin.read()
"""


def plain(target: str, out: Path) -> tuple[int, float]:
    from sluice.sources.grpc.stubs import load_method

    started = time.perf_counter()
    method = load_method(PROTO, SERVICE, METHOD)
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_stream(method.path, request_serializer=lambda m: m.SerializeToString())
        rows = []
        for raw in call(method.request(topic="accounts"), timeout=600):
            msg = method.response.FromString(raw)
            rows.append(json_format.MessageToDict(msg, preserving_proto_field_name=True))
    pq.write_table(pa.Table.from_pylist(rows), out)
    return len(rows), time.perf_counter() - started


def sluice(target: str, lake: Path, batch: int) -> tuple[int, float]:
    started = time.perf_counter()
    done = harness(lake, target, batching={"records": batch, "bytes": 1 << 30, "seconds": 600}).sync()
    return done.records, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=5000)
    args = parser.parse_args()
    command = [sys.executable, "-c", SERVER, str(args.events)]
    proc = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        target = proc.stdout.readline().strip()
        with tempfile.TemporaryDirectory() as tmp:
            b1 = plain(target, Path(tmp) / "b1.parquet")
            a = sluice(target, Path(tmp) / "lake", args.batch)
            b2 = plain(target, Path(tmp) / "b2.parquet")
    finally:
        proc.kill()
        proc.wait()
    rate_b = (b1[0] / b1[1] + b2[0] / b2[1]) / 2
    rate_a = a[0] / a[1]
    print(f"plain: {rate_b:,.0f} messages/s  sluice: {rate_a:,.0f} messages/s  ratio {rate_a / rate_b:.2f}")


if __name__ == "__main__":
    main()
