"""A Sluice deployment over test hosts (:mod:`tests.hosts`): S3, a Dask cluster, a Prefect server on PostgreSQL.

    storage host   moto's threaded S3 server: sources, staging, lake and quarantine
    scheduler host ``dask scheduler``
    worker hosts   ``dask worker`` each, with a private scratch folder (and ``prefect worker`` when asked)
    this process   the Prefect server (``prefect server start`` on a fresh PostgreSQL database) on the bridge

The code is the checkout (every host has it, as a real host has the
installed package); nothing else is shared but the network.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.hosts import Host, HostNet, free_port, venv_bin, wait_port

ROOT = Path(__file__).resolve().parents[1]
CREDS = {"key": "testing", "secret": "testing"}
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
MOTO = (
    "import sys, threading; from moto.server import ThreadedMotoServer; "
    "s = ThreadedMotoServer(ip_address='0.0.0.0', port=int(sys.argv[1])); s.start(); threading.Event().wait()"
)


@dataclass(frozen=True)
class Stack:
    """Addresses of a running deployment, and the environment a flow needs to use it."""

    net: HostNet
    s3_endpoint: str
    scheduler: str
    api_url: str
    metadata_url: str = ""  # Sluice's run records and leases, as this host reaches them

    def fs_options(self) -> dict[str, str]:
        return {**CREDS, "endpoint_url": self.s3_endpoint}

    def sluice_env(self, bucket: str) -> dict[str, str]:
        """``SLUICE_*`` settings of a run whose sources, staging, lake and quarantine are all in ``bucket``."""
        from sluice.sources.s3 import delta_options

        opts = self.fs_options()
        return {
            "SLUICE_DASK_ADDRESS": self.scheduler,
            "SLUICE_LAKE_URI": f"s3://{bucket}/tables",
            "SLUICE_QUARANTINE_URI": f"s3://{bucket}/quarantine",
            "SLUICE_STAGING_URI": f"s3://{bucket}/staging",
            "SLUICE_STORAGE_OPTIONS": json.dumps(opts),
            "SLUICE_LAKE_STORAGE_OPTIONS": json.dumps(delta_options(opts)),
        }

    def prefect_env(self) -> dict[str, str]:
        return {"PREFECT_API_URL": self.api_url, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


def code_env() -> dict[str, str]:
    """What every process of the deployment needs to import Sluice: the checkout on the path.

    A deployment's entrypoint (``flows/ingest_files.py:ingest_files``) is
    loaded by Prefect as the top-level module ``ingest_files``, and the flow
    run's context, sent with every task, names it: the Dask scheduler and
    workers import it too, so ``flows/`` is on their path as well.
    """
    return {"PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'flows'}", "PREFECT_LOGGING_LEVEL": "WARNING"}


def start_s3(host: Host) -> str:
    port = free_port()
    proc = host.start([sys.executable, "-c", MOTO, str(port)], "s3")
    wait_port(host.ip, port, proc, "the S3 server")
    return f"http://{host.ip}:{port}"


def start_scheduler(host: Host) -> str:
    port = free_port()
    cmd = [venv_bin("dask"), "scheduler", "--host", host.ip, "--port", str(port), "--no-dashboard"]
    proc = host.start(cmd, "scheduler", code_env())
    wait_port(host.ip, port, proc, "the Dask scheduler")
    return f"tcp://{host.ip}:{port}"


def start_worker(host: Host, scheduler: str, env: dict[str, str]) -> None:
    """One ``dask worker`` process (one thread) on ``host``; its spill and scratch in the host's own folder."""
    cmd = [
        venv_bin("dask"),
        "worker",
        scheduler,
        "--name",
        host.name,
        "--host",
        host.ip,
        "--nworkers",
        "1",
        "--nthreads",
        "1",
        "--no-dashboard",
        "--local-directory",
        str(host.scratch / "dask"),
    ]
    host.start(cmd, "worker", {**code_env(), **env})


def wait_workers(scheduler: str, names: list[str], timeout: float = 120.0) -> None:
    from distributed import Client

    with Client(scheduler, timeout=30) as client:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = {w["name"] for w in client.scheduler_info()["workers"].values()}
            if set(names) <= seen:
                return
            time.sleep(0.5)
    raise RuntimeError(f"Dask workers {names} did not join {scheduler} within {timeout:.0f} s")


@contextlib.contextmanager
def postgres_database(driver: str = "asyncpg", prefix: str = "prefect_mh") -> Iterator[str]:
    """A fresh database ``<prefix>_<random>`` on the local PostgreSQL; its URL for ``driver``. Dropped on exit."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield f"postgresql+{driver}://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextlib.contextmanager
def postgres_reachable_at(address: str) -> Iterator[int]:
    """The local PostgreSQL (loopback only) forwarded from ``address``, where the test hosts reach it; the port."""
    from chaos.proxy import FaultProxy

    proxy = FaultProxy("127.0.0.1", 5432, host=address).start()
    try:
        yield proxy.port
    finally:
        proxy.stop()


@contextlib.contextmanager
def prefect_server(address: str, database_url: str, home: Path) -> Iterator[str]:
    """``prefect server start`` on ``address`` and a free port, on ``database_url``; yields the API URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_API_DATABASE_CONNECTION_URL=database_url,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false",
        PREFECT_LOGGING_LEVEL="WARNING",
    )
    home.mkdir(parents=True, exist_ok=True)
    out = (home / "server.log").open("ab")
    cmd = [venv_bin("prefect"), "server", "start", "--host", address, "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://{address}:{port}/api"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"prefect server exited: {(home / 'server.log').read_text()[-2000:]}")
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                if resp.status == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("prefect server was not healthy within 120 s")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def make_bucket(endpoint: str, name: str) -> None:
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=CREDS["key"],
        aws_secret_access_key=CREDS["secret"],
    )
    s3.create_bucket(Bucket=name)


def upload(endpoint: str, files: list[str], dest: str) -> None:
    """Copy local ``files`` to ``dest`` (``s3://bucket/prefix``)."""
    import s3fs

    fs = s3fs.S3FileSystem(**CREDS, endpoint_url=endpoint)
    for path in files:
        fs.put_file(path, f"{dest.removeprefix('s3://')}/{Path(path).name}")


POOL = "multihost"
DEPLOY = (
    "import json, sys; from prefect import flow; "
    "flow.from_source(source=sys.argv[1], entrypoint='flows/ingest_files.py:ingest_files').deploy("
    "name=sys.argv[2], work_pool_name=sys.argv[3], parameters=json.loads(sys.argv[4]), print_next_steps=False)"
)


def operator_env(stack: Stack) -> dict[str, str]:
    """The shell of whoever deploys and starts runs: the server's URL, nothing of Sluice's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLUICE_", "PREFECT_"))}
    return {**env, **code_env(), **stack.prefect_env()}


def deploy_ingest(stack: Stack, name: str, parameters: dict[str, str]) -> str:
    """Register ``ingest-files/<name>`` on the process pool :data:`POOL` (created if missing); its full name."""
    from flows.demo import ensure_work_pool

    env = operator_env(stack)
    ensure_work_pool(venv_bin("prefect"), env, POOL)
    cmd = [sys.executable, "-c", DEPLOY, str(ROOT), name, POOL, json.dumps(parameters)]
    subprocess.run(cmd, env=env, cwd=ROOT, check=True, capture_output=True, text=True, timeout=180)
    return f"ingest-files/{name}"


def start_prefect_worker(host: Host, env: dict[str, str]) -> None:
    """``prefect worker start`` on ``host``, polling :data:`POOL`; its flow runs inherit ``env``."""
    cmd = [venv_bin("prefect"), "worker", "start", "--pool", POOL, "--type", "process", "--name", host.name]
    host.start(cmd, "prefect-worker", {**code_env(), **env})


def start_deployment_run(stack: Stack, deployment: str, timeout_s: int, log: Path) -> subprocess.Popen[bytes]:
    """``prefect deployment run DEPLOYMENT --watch`` from the operator's shell; it exits when the run ends."""
    cmd = [venv_bin("prefect"), "deployment", "run", deployment, "--watch", "--watch-timeout", str(timeout_s)]
    out = log.open("ab")
    return subprocess.Popen(cmd, env=operator_env(stack), stdout=out, stderr=subprocess.STDOUT)
