"""OpenLineage dataset names of Sluice's sources and lake tables, per the OpenLineage naming spec.

A run's source (:attr:`sluice.runs.records.RunReport.source`) is a path or
URI of files, a database table (``postgresql://user@host:5432/db/schema.table``,
``mariadb://...``), a replication slot (``postgres-cdc:slot``) or a stream
(``kafka:topic``, ``redis:stream``); a lake table is a path or an object
store URI. Each maps to a ``(namespace, name)`` pair: ``file`` and the path,
``s3://bucket`` and the key, ``postgres://host:port`` and
``db.schema.table``, ``mysql://host:port`` and ``db.table``,
``kafka://host:port`` and the topic.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from openlineage.client.naming.dataset import S3, Kafka, LocalFileSystem, MySQL, Postgres

DEFAULT_PORTS = {"postgresql": 5432, "mariadb": 3306, "mysql": 3306, "kafka": 9092}
CDC_PREFIX = "postgres-cdc:"


@dataclass(frozen=True)
class DatasetName:
    """A dataset's OpenLineage identity."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


def _file(path: str) -> DatasetName:
    local = LocalFileSystem(path=str(PurePosixPath(path)))
    return DatasetName(local.get_namespace(), local.get_name())


def _database(uri: str) -> DatasetName | None:
    parts = urlsplit(uri)
    segments = [s for s in parts.path.split("/") if s]
    if not parts.hostname or len(segments) < 2:
        return None
    database, relation = segments[0], "/".join(segments[1:])
    port = str(parts.port or DEFAULT_PORTS[parts.scheme])
    if parts.scheme == "postgresql":
        schema, _, table = relation.rpartition(".")
        pg = Postgres(host=parts.hostname, port=port, database=database, schema=schema or "public", table=table)
        return DatasetName(pg.get_namespace(), pg.get_name())
    my = MySQL(host=parts.hostname, port=port, database=database, table=relation)
    return DatasetName(my.get_namespace(), my.get_name())


def _kafka(topic: str, bootstrap_servers: str | None) -> DatasetName:
    first = (bootstrap_servers or "").split(",")[0].strip()
    host, _, port = first.partition(":")
    if not host:
        return DatasetName("kafka", topic)
    kafka = Kafka(bootstrap_server_host=host, port=port or str(DEFAULT_PORTS["kafka"]), topic=topic)
    return DatasetName(kafka.get_namespace(), kafka.get_name())


def source_dataset(source: str, *, kafka_bootstrap_servers: str | None = None) -> DatasetName:
    """The OpenLineage name of a run's source."""
    parts = urlsplit(source)
    if parts.scheme in ("postgresql", "mariadb", "mysql"):
        found = _database(source)
        if found is not None:
            return found
    if source.startswith("kafka:") and not source.startswith("kafka://"):
        return _kafka(source.removeprefix("kafka:"), kafka_bootstrap_servers)
    if source.startswith(CDC_PREFIX):
        slot, _, relation = source.removeprefix(CDC_PREFIX).partition(":")
        return DatasetName(f"postgres-cdc://{slot}", relation or slot)
    return location_dataset(source)


def location_dataset(uri: str) -> DatasetName:
    """The OpenLineage name of a file or table location: a local path, ``file://``, ``s3://`` or another scheme."""
    parts = urlsplit(uri)
    if not parts.scheme or len(parts.scheme) == 1:  # a path (a Windows drive letter is no scheme)
        return _file(uri)
    if parts.scheme == "file":
        return _file(parts.path)
    if parts.scheme in ("s3", "s3a") and parts.netloc:
        s3 = S3(bucket_name=parts.netloc, object_key=parts.path.lstrip("/") or "/")
        return DatasetName(s3.get_namespace(), s3.get_name())
    if parts.netloc:
        return DatasetName(f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/") or "/")
    return DatasetName(parts.scheme, parts.path or uri)
