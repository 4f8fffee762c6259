"""Benchmark: Sluice's tokenisation of a PII column against the plain per-value HMAC loop.

    python bench/tokens.py [--rows 2000000] [--distinct 0.3] [--chunk-rows 250000] [--seed 0]

Generates ``--rows`` e-mail addresses drawn from ``rows * distinct`` distinct
ones (orders repeat their customers' addresses), as Arrow string arrays of
``--chunk-rows`` rows, the way validation hands chunks over. Then, each in a
fresh child process (same data, generation not timed):

(a) Sluice: :func:`sluice.governance.tokens.tokenise` per chunk (each distinct
    value hashed once, digests turned into token text with numpy);
(b) plain: per value ``hmac.new(key, value, sha256)``, base32 of the first 20
    bytes, as a Python list per chunk (``to_pylist`` and back to Arrow included).

Both must produce the same tokens (their sha256 is compared). Prints rows/s
of each (wall and CPU seconds), the ratio of wall times (above 1: Sluice is
faster) and each child's peak RSS (the generated data included).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sluice.governance.keyring import Keyring
from sluice.governance.tokens import tokenise

KEY = bytes(range(32))
DOMAINS = np.array(["example.com", "mail.example.de", "post.example.fr", "example.co.uk"], dtype=object)


def chunks(rows: int, distinct: float, chunk_rows: int, seed: int) -> list[pa.Array]:
    rng = np.random.default_rng(seed)
    pool = max(1, int(rows * distinct))
    people = rng.integers(0, pool, rows)
    local = np.char.add("user.", people.astype(str))
    emails = np.char.add(np.char.add(local, "@"), DOMAINS[people % len(DOMAINS)].astype(str))
    return [pa.array(emails[i : i + chunk_rows], pa.string()) for i in range(0, rows, chunk_rows)]


def plain(values: pa.Array) -> pa.Array:
    out = []
    for v in values.to_pylist():
        digest = hmac.new(KEY, v.encode("utf-8"), hashlib.sha256).digest()[:20]
        out.append("tok_v1_" + base64.b32encode(digest).decode("ascii").lower())
    return pa.array(out, pa.string())


def child(mode: str, args: argparse.Namespace) -> None:
    data = chunks(args.rows, args.distinct, args.chunk_rows, args.seed)
    keyring = Keyring(1, {1: KEY})
    out = []
    cpu, started = time.process_time(), time.perf_counter()
    for chunk in data:
        out.append(tokenise(chunk, keyring) if mode == "sluice" else plain(chunk))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    digest = hashlib.sha256()
    for tokens in out:
        digest.update("\n".join(tokens.to_pylist()).encode())
    print(json.dumps({"mode": mode, "seconds": seconds, "cpu": cpu, "peak": peak, "sha256": digest.hexdigest()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--distinct", type=float, default=0.3)
    parser.add_argument("--chunk-rows", type=int, default=250_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mode", choices=["sluice", "plain"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        child(args.mode, args)
        return
    base = [sys.executable, __file__, "--rows", str(args.rows), "--distinct", str(args.distinct)]
    base += ["--chunk-rows", str(args.chunk_rows), "--seed", str(args.seed)]
    results = {}
    for mode in ("sluice", "plain"):
        done = subprocess.run([*base, "--mode", mode], check=True, capture_output=True, text=True)
        results[mode] = json.loads(done.stdout.strip().splitlines()[-1])
    if results["sluice"]["sha256"] != results["plain"]["sha256"]:
        raise SystemExit("the two tokenisers disagree")
    for mode, r in results.items():
        rate = args.rows / r["seconds"]
        print(
            f"{mode:>6}: {r['seconds']:.2f} s ({r['cpu']:.2f} s CPU), {rate:,.0f} rows/s, "
            f"peak RSS {r['peak'] / 2**20:,.0f} MiB"
        )
    ratio = results["plain"]["seconds"] / results["sluice"]["seconds"]
    print(
        f"tokens of {args.rows:,} rows ({args.distinct:.0%} distinct, chunks of {args.chunk_rows:,}): "
        f"Sluice {ratio:.2f}x the plain HMAC loop; same tokens"
    )


if __name__ == "__main__":
    main()
