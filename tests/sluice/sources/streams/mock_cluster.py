"""librdkafka's mock Kafka cluster in its own process: real Kafka protocol on loopback, for clients in any process.

``python -m tests.sluice.sources.streams.mock_cluster`` prints the cluster's
``bootstrap.servers`` and serves until its standard input closes. The mock
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
import sys


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


if __name__ == "__main__":
    serve([(t.partition(":")[0], int(t.partition(":")[2] or 3)) for t in sys.argv[1:]])
