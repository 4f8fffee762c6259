"""librdkafka's mock Kafka cluster in its own process: real Kafka protocol on loopback, for clients in any process.

``python -m tests.sluice.sources.streams.mock_cluster`` prints the cluster's
``bootstrap.servers`` and serves until its standard input closes
(:func:`running` starts it for a ``with`` block). The mock
cluster is reached through librdkafka's C API (ctypes, the library the
confluent-kafka wheel ships): the Python client cannot set the group's
initial rebalance delay, which the mock keeps at 3 s by default, nor create
topics with a chosen partition count (CreateTopics needs a controller the
mock does not have).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path


def _library() -> ctypes.CDLL:
    import confluent_kafka

    wheel_libs = os.path.join(os.path.dirname(confluent_kafka.__file__), "..", "confluent_kafka.libs")
    shipped = glob.glob(os.path.join(wheel_libs, "librdkafka*"))
    path = shipped[0] if shipped else ctypes.util.find_library("rdkafka")
    if path is None:
        raise RuntimeError("librdkafka not found")
    lib = ctypes.CDLL(path)
    lib.rd_kafka_conf_new.restype = ctypes.c_void_p
    text = ctypes.c_char_p
    lib.rd_kafka_conf_set.argtypes = [ctypes.c_void_p, text, text, text, ctypes.c_size_t]
    lib.rd_kafka_new.restype = ctypes.c_void_p
    lib.rd_kafka_new.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    lib.rd_kafka_handle_mock_cluster.restype = ctypes.c_void_p
    lib.rd_kafka_handle_mock_cluster.argtypes = [ctypes.c_void_p]
    lib.rd_kafka_mock_cluster_bootstraps.restype = ctypes.c_char_p
    lib.rd_kafka_mock_cluster_bootstraps.argtypes = [ctypes.c_void_p]
    lib.rd_kafka_mock_group_initial_rebalance_delay_ms.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.rd_kafka_mock_topic_create.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_int]
    return lib


def serve(topics: list[tuple[str, int]]) -> None:
    lib = _library()
    err = ctypes.create_string_buffer(512)
    conf = lib.rd_kafka_conf_new()
    for key, value in ((b"test.mock.num.brokers", b"1"), (b"log_level", b"3")):
        lib.rd_kafka_conf_set(conf, key, value, err, len(err))
    handle = lib.rd_kafka_new(0, conf, err, len(err))  # a producer handle owns the cluster
    cluster = lib.rd_kafka_handle_mock_cluster(handle)
    lib.rd_kafka_mock_group_initial_rebalance_delay_ms(cluster, 0)
    for name, partitions in topics:
        lib.rd_kafka_mock_topic_create(cluster, name.encode(), partitions, 1)
    print(lib.rd_kafka_mock_cluster_bootstraps(cluster).decode(), flush=True)
    sys.stdin.read()


@contextmanager
def running(topics: tuple[tuple[str, int], ...] = ()) -> Iterator[tuple[str, int]]:
    """A mock cluster in a process of its own for the ``with`` block: its bootstrap servers and process id."""
    root = Path(__file__).resolve().parents[4]
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", __name__, *[f"{t}:{n}" for t, n in topics]],
        cwd=root,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    try:
        bootstrap = proc.stdout.readline().strip()
        if not bootstrap.startswith("127.0.0.1:"):
            raise RuntimeError(f"the mock cluster did not start: {bootstrap!r}")
        yield bootstrap, proc.pid
    finally:
        with suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGCONT)  # a test may have left it frozen
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


if __name__ == "__main__":
    serve([(t.partition(":")[0], int(t.partition(":")[2] or 3)) for t in sys.argv[1:]])
