"""``ingest-table`` with its connection in a Prefect Secret block, on the real stack (Prefect test server, Dask
worker processes): the password reads the table and is found nowhere afterwards, in logs, run records, the
Prefect server's database or the Sluice home; the same with an SSH key for a database behind a bastion."""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml
from prefect_dask import DaskTaskRunner

from sluice.runs.metastore import engine_for, get_run
from sluice.settings import get_settings
from sluice.sources.database import DatabaseAuthError
from tests.pgcluster import ClusterOptions, PgCluster, running_cluster
from tests.sluice.sources.bastion import BastionNet, bastion_net  # noqa: F401 - the session fixture
from tests.sluice.sources.connfixtures import fill_table, lake_rows, source_rows
from tests.sluice.sources.dbfixtures import contract

pytestmark = pytest.mark.integration
TABLE = "orders_secret"
PASSWORD = "Pw-" + secrets.token_urlsafe(12)  # unique enough to be found only where it leaked


@pytest.fixture(scope="module")
def scram_cluster() -> Iterator[PgCluster]:
    """A private cluster that checks passwords (scram-sha-256) for TCP; role ``reader`` may read the table."""
    options = ClusterOptions(hba=("host all all 127.0.0.1/32 scram-sha-256",))
    with running_cluster({"fsync": "off"}, options) as cluster:
        fill_table(cluster.socket_url(), TABLE, 250)
        with psycopg.connect(cluster.socket_url(), autocommit=True) as conn:
            conn.execute(f"CREATE ROLE reader LOGIN PASSWORD '{PASSWORD}'")
            conn.execute(f'GRANT SELECT ON "{TABLE}" TO reader')
        yield cluster


@pytest.fixture()
def contracts(sluice_home, tmp_path, monkeypatch):
    folder = tmp_path / "contracts"
    folder.mkdir()
    (folder / "dbtest.yaml").write_text(yaml.safe_dump(contract().model_dump(mode="json", exclude_defaults=True)))
    monkeypatch.setenv("SLUICE_CONTRACTS_DIR", str(folder))
    monkeypatch.delenv("SLUICE_DATABASES", raising=False)
    return get_settings(fresh=True)


def save_secret(value: object) -> str:
    from prefect.blocks.system import Secret

    name = f"shop-db-{uuid.uuid4().hex[:8]}"
    Secret(value=value).save(name)
    return name


def run(address: str, **kwargs):
    from flows.ingest_table import ingest_table

    return ingest_table.with_options(task_runner=DaskTaskRunner(address=address))("dbtest", **kwargs)


def recorded_by_prefect() -> str:
    """Everything the Prefect server holds about runs, as text: logs, flow and task runs with their states."""
    from prefect.client.orchestration import get_client
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()
    with get_client(sync_client=True) as client:
        parts = [log.model_dump_json() for log in client.read_logs()]
        parts += [run.model_dump_json() for run in client.read_flow_runs()]
        parts += [run.model_dump_json() for run in client.read_task_runs()]
    return "\n".join(parts)


def files_holding(folder: Path, needle: str) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


def prefect_database_dir() -> Path:
    from prefect.settings import PREFECT_SERVER_DATABASE_CONNECTION_URL

    return Path(str(PREFECT_SERVER_DATABASE_CONNECTION_URL.value()).split(":///", 1)[1]).parent


def test_the_password_in_a_secret_reads_the_table_and_leaks_nowhere(
    prefect_api, dask_address, contracts, scram_cluster
):
    url = f"postgresql://reader:{PASSWORD}@127.0.0.1:{scram_cluster.port}/postgres"
    report = run(dask_address, secret_block=save_secret(url), table=TABLE)

    assert report.status == "completed" and report.rows_written == 250
    assert lake_rows(contracts) == source_rows(scram_cluster.socket_url(), TABLE)
    with engine_for(contracts.metadata_db_url()).connect() as conn:
        stored = get_run(conn, report.run_id)
    assert stored is not None and PASSWORD not in repr(stored)
    assert f"reader@127.0.0.1:{scram_cluster.port}/postgres/{TABLE}" in report.source

    wrong = save_secret(url.replace(PASSWORD, PASSWORD[::-1]))
    with pytest.raises(DatabaseAuthError) as err:
        run(dask_address, secret_block=wrong, table=TABLE)
    assert "refused the credentials" in str(err.value) and "\n" not in str(err.value).split("\n  hint:")[0]

    recorded = recorded_by_prefect()
    assert "refused the credentials" in recorded  # the failed run's error is there: the search can find things
    assert PASSWORD not in recorded and PASSWORD[::-1] not in recorded
    assert files_holding(prefect_database_dir(), "refused the credentials")  # the search reads the server's files
    assert files_holding(prefect_database_dir(), PASSWORD) == []
    assert files_holding(contracts.home, f"reader@127.0.0.1:{scram_cluster.port}")  # ... and the lake's
    assert files_holding(contracts.home, PASSWORD) == []


def test_a_secret_with_url_and_ssh_key_reads_through_the_bastion_for_the_run_only(
    prefect_api, dask_address, contracts, bastion_net, monkeypatch
):
    fill_table(bastion_net.cluster.socket_url(), TABLE, 120)
    monkeypatch.setenv("SLUICE_DB_SSH_KNOWN_HOSTS", str(bastion_net.known_hosts))
    get_settings(fresh=True)
    key = bastion_net.key.read_text()
    block = save_secret({"url": f"{bastion_net.db_url}?{bastion_net.ssh}", "ssh_private_key": key})

    report = run(dask_address, secret_block=block, table=TABLE)

    assert report.status == "completed" and report.rows_written == 120
    assert len(report.files) > 1  # the Dask worker processes read through the forward too
    assert lake_rows(contracts) == source_rows(bastion_net.cluster.socket_url(), TABLE)
    assert f"{bastion_net.db_host}:{bastion_net.cluster.port}/postgres/{TABLE}" in report.source
    assert not [t for t in threading.enumerate() if t.name == "sluice-ssh-tunnel"]  # the forward closed
    key_line = key.splitlines()[1]
    assert key_line not in recorded_by_prefect() and files_holding(contracts.home, key_line) == []
