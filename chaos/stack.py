"""The local staging stack a drill runs on, all on loopback.

- **Source:** an S3 endpoint (moto's ``ThreadedMotoServer``, the real S3 HTTP
  API) with a bucket of the drill's own, ``drill-<id>`` (moto keeps its buckets
  in memory shared by the whole process); Sluice reads it through a
  :class:`~chaos.proxy.FaultProxy`, while the drill's own probes read it
  directly, so a fault never blinds the judge.
- **Lake:** the drill's own lake, quarantine, staging folder and run records
  under ``<SLUICE_HOME>/chaos/<drill id>/``, so conservation is judged on the
  drill's data alone and a drill never touches the environment's lake. The
  drill's metric store, alert state and baselines live there too
  (:mod:`chaos.alerts`).
- **Database source** (database drills only): a private PostgreSQL server
  with the drill's source table and replication slot (:mod:`chaos.database`),
  started by the first step that needs it.
- **Stream sources** (stream drills only): a RabbitMQ queue or Redis stream
  of the drill's own behind a fault proxy of its own (:mod:`chaos.streams`).
- **API sources** (API drills only): an API the environment describes, behind
  an HTTP fault proxy of the drill's own (:mod:`chaos.apisource`).
- **Compute:** the Dask scheduler at ``SLUICE_DASK_ADDRESS``, or a LocalCluster
  of two worker processes started for the drill.
- **Orchestration and incidents:** the environment's Prefect API and incident
  store, so drill runs are real flow runs and their incidents real incidents
  (flagged as drills).
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos.proxy import FaultProxy
from ops.errors import ChaosError
from sluice.lake.table import table_uri
from sluice.settings import get_settings

logger = logging.getLogger(__name__)
PREFIX = "incoming"
DATASET = "orders"
CREDENTIALS = {"aws_access_key_id": "drill", "aws_secret_access_key": "drill"}
S3_TIMEOUT_SECONDS = 5


def _start_s3() -> tuple[Any, str]:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        raise ChaosError("the drill's S3 endpoint needs moto", hint="pip install -e '.[chaos]'") from None
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def _start_cluster() -> Any:
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.WARNING
    )


@dataclass
class DrillStack:
    """Endpoints and folders of one drill; :meth:`close` takes everything down."""

    root: Path
    s3_server: Any
    s3_url: str
    proxy: FaultProxy
    dask_address: str
    bucket: str
    dataset: str = DATASET
    prefix: str = PREFIX
    cluster: Any = None
    api_proxy: FaultProxy | None = None
    mounted: Path | None = None
    ballast: Path | None = None
    database: Any = None  # a chaos.database.DrillDatabase, started by the first database step
    streams: dict[str, Any] = field(default_factory=dict)  # broker -> chaos.streams.DrillStream, on first use
    apis: dict[str, Any] = field(default_factory=dict)  # API name -> chaos.apisource.DrillApi, on first use
    lock: threading.Lock = field(default_factory=threading.Lock)
    sampling: Any = None  # a chaos.correlation.HostSampling while the stack is up
    host_faults: Any = None  # a chaos.hostfaults.HostFaults once a host fault went in
    killed_workers: list[str] = field(default_factory=list)  # addresses of the Dask workers the drill killed
    _next_id: int = 0
    _extra: list[Any] = field(default_factory=list)

    @classmethod
    def start(cls, drill_id: str, targets: frozenset[str] = frozenset()) -> DrillStack:
        """Start S3, its fault proxy and (without ``SLUICE_DASK_ADDRESS``) a Dask cluster; sample the host,
        and of the drill's ``targets`` the S3 source (through the proxy) and the Dask workers."""
        root = get_settings().home / "chaos" / drill_id
        root.mkdir(parents=True, exist_ok=True)
        server, url = _start_s3()
        host, port = url.removeprefix("http://").split(":")
        proxy = FaultProxy(host, int(port)).start()
        address, cluster = get_settings().dask_address, None
        if not address:
            cluster = _start_cluster()
            address = cluster.scheduler_address
        stack = cls(
            root=root,
            s3_server=server,
            s3_url=url,
            proxy=proxy,
            dask_address=address,
            cluster=cluster,
            bucket=f"drill-{drill_id}",
        )
        stack.s3().create_bucket(Bucket=stack.bucket)
        from chaos.correlation import HostSampling

        stack.sampling = HostSampling().start(
            drill_id,
            stack.lake_root,
            source_url=f"{proxy.url}/{stack.bucket}" if "s3-source" in targets else None,
            dask_address=address if "dask-workers" in targets else None,
        )
        return stack

    def s3(self) -> Any:
        """A boto3 client straight to the S3 endpoint (never through the fault proxy)."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.s3_url,
            region_name="us-east-1",
            aws_access_key_id=CREDENTIALS["aws_access_key_id"],
            aws_secret_access_key=CREDENTIALS["aws_secret_access_key"],
        )

    @property
    def source_uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def source_options(self) -> dict[str, Any]:
        """s3fs options for Sluice: through the fault proxy, without cached listings (runs share a process).

        Staging's S3 client gives up on a silent endpoint after ``S3_TIMEOUT_SECONDS``
        (botocore waits 60 s by default), so a stalled connection becomes a
        timeout that is retried rather than a hang.
        """
        return {
            "key": CREDENTIALS["aws_access_key_id"],
            "secret": CREDENTIALS["aws_secret_access_key"],
            "endpoint_url": self.proxy.url,
            "use_listings_cache": False,
            "client_kwargs": {"region_name": "us-east-1"},
            "config_kwargs": {"connect_timeout": S3_TIMEOUT_SECONDS, "read_timeout": S3_TIMEOUT_SECONDS},
        }

    @property
    def lake_root(self) -> Path:
        return self.root / "lake"

    @property
    def lake_uri(self) -> str:
        return table_uri(str(self.lake_root), self.dataset)

    @property
    def quarantine_uri(self) -> str:
        return str(self.root / "quarantine")

    @property
    def metadata_url(self) -> str:
        """The drill's run records (its own metadata store)."""
        return f"sqlite:///{self.root / 'sluice.db'}"

    def environment(self) -> dict[str, str]:
        """``SLUICE_*`` variables that point a flow run at the drill's lake, quarantine and records."""
        return {
            "SLUICE_LAKE_URI": str(self.lake_root),
            "SLUICE_QUARANTINE_URI": self.quarantine_uri,
            "SLUICE_STAGING_DIR": str(self.root / "staging"),
            "SLUICE_METADATA_URL": self.metadata_url,
            "SLUICE_METRICS_SAMPLER": "false",
        }

    def allocate_ids(self, rows: int) -> int:
        """A fresh range of order ids for ``rows`` new rows: deliveries never collide by accident."""
        offset = self._next_id
        self._next_id += rows + 1_000
        return offset

    def prefect_api_proxy(self) -> FaultProxy:
        """A fault proxy in front of the Prefect API (``PREFECT_API_URL``), started on first use."""
        if self.api_proxy is None:
            from urllib.parse import urlparse

            from prefect.settings import PREFECT_API_URL

            url = urlparse(str(PREFECT_API_URL.value() or ""))
            if not url.hostname or not url.port:
                raise ChaosError(
                    "PREFECT_API_URL names no host and port to put a fault proxy in front of",
                    hint="run the drill against a Prefect server (ops chaos run starts one)",
                )
            self.api_proxy = FaultProxy(url.hostname, url.port).start()
        return self.api_proxy

    def prefect_api_url(self) -> str:
        """The Prefect API URL through :meth:`prefect_api_proxy`."""
        from urllib.parse import urlparse

        from prefect.settings import PREFECT_API_URL

        path = urlparse(str(PREFECT_API_URL.value())).path
        return f"{self.prefect_api_proxy().url}{path}"

    def heal(self) -> None:
        """Every fault off: proxies forward again, frozen brokers run, the lake disk has room, host hogs are gone."""
        self.proxy.heal()
        if self.api_proxy is not None:
            self.api_proxy.heal()
        for stream in self.streams.values():
            stream.heal()
        for api in self.apis.values():
            api.proxy.heal()
        if self.ballast is not None:
            self.ballast.unlink(missing_ok=True)
            self.ballast = None
        if self.host_faults is not None:
            self.host_faults.heal()

    def _empty_bucket(self) -> None:
        s3 = self.s3()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            for item in page.get("Contents", []):
                s3.delete_object(Bucket=self.bucket, Key=item["Key"])
        s3.delete_bucket(Bucket=self.bucket)

    def close(self) -> None:
        """Take the stack down; the drill's folder is removed once its tmpfs is unmounted."""
        from chaos.disk import unmount

        for stop in (
            *(s.stop for s in [self.sampling] if s is not None),
            *(h.heal for h in [self.host_faults] if h is not None),
            self.proxy.stop,
            self._empty_bucket,
            self.s3_server.stop,
            *(p.stop for p in [self.api_proxy] if p is not None),
            *(c.close for c in [self.cluster] if c is not None),
            *(d.close for d in [self.database] if d is not None),
            *(s.close for s in self.streams.values()),
            *(a.close for a in self.apis.values()),
        ):
            try:
                stop()
            except Exception:
                logger.exception("could not stop part of the drill stack")
        if self.mounted is not None and not unmount(self.mounted):
            return
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def shared_cluster() -> Iterator[str]:
    """The scheduler at ``SLUICE_DASK_ADDRESS``, or a LocalCluster shared by every drill of the block."""
    address = get_settings().dask_address
    if address:
        yield address
        return
    cluster = _start_cluster()
    os.environ["SLUICE_DASK_ADDRESS"] = cluster.scheduler_address
    get_settings(fresh=True)
    try:
        yield cluster.scheduler_address
    finally:
        os.environ.pop("SLUICE_DASK_ADDRESS", None)
        get_settings(fresh=True)
        cluster.close()


@contextmanager
def drill_environment(stack: DrillStack) -> Iterator[None]:
    """Point this process's Sluice settings at the drill's lake for the block; restore them after."""
    saved = {k: os.environ.get(k) for k in stack.environment()}
    os.environ.update(stack.environment())
    get_settings(fresh=True)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings(fresh=True)
