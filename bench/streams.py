"""Benchmark: Kafka stream ingestion into the lake against a plain consume loop writing Parquet; end-to-end latency.

    python bench/streams.py [--messages 500000] [--batch 10000] [--rates 500,1000,2000,4000,8000] [--seconds 20]

Starts librdkafka's mock cluster (:mod:`tests.sluice.sources.streams.mock_cluster`,
the real Kafka protocol on loopback) and produces ``--messages`` orders as
JSON objects to a topic of 3 partitions (not timed). Then, each in a fresh
child process, on the same messages and the same cluster:

(b) plain: a confluent-kafka consumer, ``consume(num_messages=--batch)``
    batches, each batch's values read by ``pyarrow.json.read_json`` and written
    as one Parquet file, offsets committed after the file: no validation, no lake;
(a) Sluice: :func:`sluice.sources.streams.consume.consume` over a
    :class:`~sluice.sources.streams.kafka.KafkaSource` into a
    :class:`~sluice.sources.streams.sink.StreamSink` (the code the
    ``ingest-stream`` flow runs: JSON decode, contract validation, one Delta
    commit per micro-batch with its offsets, then the Kafka offset commit);
    without the metadata store's lease;
(b) plain again, in another consumer group; (a) is compared with the mean of the two.

Each side's time runs from its first poll to its last commit; msgs/s is the
messages over that time. Peak memory is the largest summed RSS of the child's
process tree (bench/meter.py).

Latency (``--seconds`` > 0): for each rate of ``--rates`` in turn, a Sluice
consumer (child process) follows a fresh topic while this process produces at
that rate for ``--seconds``. A message's latency is the commit timestamp of the
Delta version that holds it minus its Kafka timestamp (set at produce). A rate
is *sustained* when every message reached the lake, the producer kept 95 % of
the rate, and no message took longer than ``--bound`` seconds: a consumer
slower than the stream falls further behind every second, so its latency
grows past any fixed bound. The search stops at the first rate not sustained.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.meter import GIB, Measured, ProcessMeter
from bench.streams_sides import LATENCY_GROUP, ORDERS, order, plain_side, sluice_side, window_latencies

PARTITIONS = 3
# The mock cluster keeps about 5 MiB a partition (older messages are dropped): the throughput topic gets enough.
PARTITION_BYTES = 4 * 1024 * 1024


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=500_000)
    p.add_argument("--batch", type=int, default=10_000, help="records per micro-batch, both sides")
    p.add_argument("--rates", default="500,1000,2000,4000,8000", help="messages/s, stepped up in this order")
    p.add_argument("--seconds", type=float, default=20.0, help="produce time per rate (0: no latency runs)")
    p.add_argument("--bound", type=float, default=5.0, help="latency bound (s) a sustained rate keeps")
    p.add_argument("--max-wait", type=float, default=1.0, help="latency runs: wait for a batch's first message (s)")
    p.add_argument("--spread-days", type=int, default=0, help="created_at over this many days (0: produce time)")
    p.add_argument("--workdir", type=Path)
    p.add_argument("--side", choices=["plain", "sluice"], help=argparse.SUPPRESS)
    p.add_argument("--bootstrap", help=argparse.SUPPRESS)
    p.add_argument("--topic", help=argparse.SUPPRESS)
    p.add_argument("--group", help=argparse.SUPPRESS)
    p.add_argument("--follow", type=float, default=0.0, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def start_cluster(topics: list[tuple[str, int]]) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "tests.sluice.sources.streams.mock_cluster", *(f"{t}:{n}" for t, n in topics)]
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(cmd, cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    bootstrap = (proc.stdout.readline() if proc.stdout else "").strip()
    if not bootstrap:
        raise SystemExit("the mock cluster did not start")
    return proc, bootstrap


def producer(bootstrap: str, linger_ms: int) -> object:
    from confluent_kafka import Producer

    return Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": linger_ms,
            "batch.num.messages": 10_000,
            "queue.buffering.max.messages": 1_000_000,
            "queue.buffering.max.kbytes": 1024 * 1024,
        }
    )


def produce_all(bootstrap: str, topic: str, n: int, spread_days: int) -> int:
    prod = producer(bootstrap, 50)
    size = 0
    for i in range(n):
        value = order(i, int(time.time() * 1000), spread_days=spread_days)
        size += len(value)
        prod.produce(topic, value, key=str(i).encode())  # type: ignore[attr-defined]
        if i % 10_000 == 0:
            prod.poll(0)  # type: ignore[attr-defined]
    prod.flush(60)  # type: ignore[attr-defined]
    return size


def side(kind: str, bootstrap: str, topic: str, group: str, args: argparse.Namespace, work: Path) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--side", kind, "--bootstrap", bootstrap, "--topic", topic, "--group", group]
    cmd += ["--messages", str(args.messages), "--batch", str(args.batch), "--workdir", str(work)]
    with ProcessMeter() as mem:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{kind} side failed: {done.stderr.strip()[-800:]}")
    found: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    measured = Measured.of(mem)
    found["peak_rss"], found["cpu_s"] = measured.peak, measured.cpu
    found["rate"] = found["messages"] / found["seconds"]
    print(
        f"{kind:>6}: {found['messages']:,.0f} msgs in {found['seconds']:.2f} s = {found['rate']:,.0f} msgs/s, "
        f"peak RSS {found['peak_rss'] / GIB:.2f} GiB, CPU {found['cpu_s']:.1f} s",
        flush=True,
    )
    return found


def throughput(args: argparse.Namespace, bootstrap: str, partitions: int, work: Path) -> float:
    clock = time.perf_counter()
    size = produce_all(bootstrap, "orders", args.messages, args.spread_days)
    took = time.perf_counter() - clock
    print(f"produced {args.messages:,} orders to {partitions} partitions ({size / 2**20:.0f} MiB) in {took:.1f} s")
    b1 = side("plain", bootstrap, "orders", "plain-1", args, work / "plain-1")
    a = side("sluice", bootstrap, "orders", "sluice", args, work / "sluice")
    b2 = side("plain", bootstrap, "orders", "plain-2", args, work / "plain-2")
    plain = (b1["rate"] + b2["rate"]) / 2
    ratio = a["rate"] / plain
    print(
        f"throughput: ratio sluice/plain={ratio:.2f} (target >= 0.5) sluice={a['rate']:,.0f} msgs/s "
        f"plain={plain:,.0f} msgs/s peak_rss_sluice={a['peak_rss'] / GIB:.2f}GiB "
        f"peak_rss_plain={max(b1['peak_rss'], b2['peak_rss']) / GIB:.2f}GiB messages={args.messages:,} "
        f"written={a['written']:,.0f} quarantined={a['quarantined']:,.0f}",
        flush=True,
    )
    return ratio


def produce_at(bootstrap: str, topic: str, rate: int, seconds: float) -> tuple[int, float]:
    """Produce ``rate`` messages a second for ``seconds`` on schedule; returns how many and the time it took."""
    prod = producer(bootstrap, 5)
    total, start, i = int(rate * seconds), time.perf_counter(), 0
    while i < total:
        due = min(total, int((time.perf_counter() - start) * rate) + 1)
        now_ms = int(time.time() * 1000)
        for k in range(i, due):
            prod.produce(topic, order(k, now_ms), key=str(k).encode(), timestamp=now_ms)  # type: ignore[attr-defined]
        i = due
        prod.poll(0)  # type: ignore[attr-defined]
        time.sleep(0.005)
    took = time.perf_counter() - start
    prod.flush(30)  # type: ignore[attr-defined]
    return total, took


def latency_step(args: argparse.Namespace, bootstrap: str, topic: str, rate: int, work: Path) -> bool:
    idle = args.bound + 10  # the consumer waits this long for the first message, and stops once idle this long
    cmd = [sys.executable, __file__, "--side", "sluice", "--bootstrap", bootstrap, "--topic", topic]
    cmd += [
        "--group",
        f"{LATENCY_GROUP}-{topic}",
        "--batch",
        str(args.batch),
        "--workdir",
        str(work),
        "--follow",
        str(idle),
    ]
    cmd += ["--max-wait", str(args.max_wait), "--messages", "0"]
    work.mkdir(parents=True, exist_ok=True)
    log = (work / "consumer.log").open("w")
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
    if child.stdout is None or child.stdout.readline().strip() != "ready":
        raise SystemExit("latency consumer did not start")
    time.sleep(3)  # its group join
    load = os.getloadavg()[0]
    sent, took = produce_at(bootstrap, topic, rate, args.seconds)
    child.communicate()
    log.close()
    if child.returncode:
        raise SystemExit(f"latency consumer failed: {(work / 'consumer.log').read_text().strip()[-800:]}")
    lat = window_latencies(work / "lake" / ORDERS)
    reached = sent / took
    p50, p99, worst = lat.quantile(0.5), lat.quantile(0.99), lat.worst
    ok = lat.count == sent and reached >= 0.95 * rate and worst <= args.bound
    print(
        f"rate {rate:>6,}/s: produced {sent:,} at {reached:,.0f}/s, in lake {lat.count:,}, "
        f"latency p50={p50:.2f}s p99={p99:.2f}s max={worst:.2f}s over {lat.versions} commits: "
        f"{'sustained' if ok else 'NOT sustained'} (load average {load:.1f})",
        flush=True,
    )
    return ok


def latency(args: argparse.Namespace, bootstrap: str, topics: list[str], work: Path) -> None:
    rates = [int(r) for r in args.rates.split(",")]
    print(f"latency: produce time -> commit of the Delta version holding it; sustained = max <= {args.bound:g} s")
    best = 0
    for rate, topic in zip(rates, topics, strict=False):
        if not latency_step(args, bootstrap, topic, rate, work / topic):
            break
        best = rate
    print(f"latency: highest sustained rate {best:,} msgs/s (bound {args.bound:g} s, {args.seconds:g} s per step)")


def main(argv: list[str] | None = None) -> None:
    args = _args(argv)
    if args.side == "plain":
        plain_side(args.bootstrap, args.topic, args.group, args.messages, args.batch, args.workdir)
        return
    if args.side == "sluice":
        sluice_side(args.bootstrap, args.topic, args.group, args.messages, args.batch, args.workdir, args)
        return
    rates = args.rates.split(",")
    topics = ["orders", *(f"latency{i}" for i in range(len(rates)))]
    partitions = max(PARTITIONS, -(-args.messages * len(order(args.messages, 0)) // PARTITION_BYTES))
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-streams-"))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    cluster, bootstrap = start_cluster([(topics[0], partitions), *((t, PARTITIONS) for t in topics[1:])])
    try:
        if args.messages:
            throughput(args, bootstrap, partitions, work)
        if args.seconds > 0:
            latency(args, bootstrap, topics[1:], work)
    finally:
        if cluster.stdin:
            cluster.stdin.close()
        cluster.wait(10)
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
