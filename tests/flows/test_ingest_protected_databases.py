"""Protected PII columns read from databases: a table snapshot and change data capture store no clear value.

The lake, the quarantine, the staging area and the metadata under the Sluice home are searched byte by byte
for the source's names and notes; the tokens are the ones the file ingestion makes, so joins across sources
still match.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pytest
import yaml
from deltalake import DeltaTable
from prefect_dask import DaskTaskRunner

from flows.capture_changes import capture_changes
from sluice.governance.keyring import new_keyring, read_keyring_file, write_keyring_file
from sluice.governance.tokens import tokenise
from sluice.settings import get_settings
from tests.flows.helpers import lake_table, quarantine_table
from tests.pgcluster import PgCluster, pg_logical  # noqa: F401 - the session fixture
from tests.sluice.sources.cdc.conftest import ACCOUNTS, ACCOUNTS_DDL, CdcSource, make_source
from tests.sluice.sources.dbfixtures import PG_DDL, PG_URL, contract, pg_exec, pg_table  # noqa: F401

pytestmark = pytest.mark.integration
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
NEEDLES = (b"Lovelace", b"secret-note")


@pytest.fixture()
def keys(sluice_home, tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "keys"
    write_keyring_file(folder / "tokens.json", new_keyring())
    write_keyring_file(folder / "kek.json", new_keyring())
    monkeypatch.setenv("SLUICE_PROTECT_TOKEN_KEYS_FILE", str(folder / "tokens.json"))
    monkeypatch.setenv("SLUICE_PROTECT_KEK_PROVIDER", "file")
    monkeypatch.setenv("SLUICE_PROTECT_KEK_FILE", str(folder / "kek.json"))
    return folder


def _contracts(folder: Path, name: str, body: dict, protect: dict[str, str], monkeypatch) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for column in body["columns"]:
        if column["name"] in protect:
            column["protect"] = protect[column["name"]]
            column["pii"] = "person_name" if protect[column["name"]] == "token" else True
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(body, sort_keys=False))
    monkeypatch.setenv("SLUICE_CONTRACTS_DIR", str(folder))


def _clear_anywhere(home: Path) -> list[str]:
    """Files under ``home`` holding any of the needles in clear bytes."""
    return [str(p) for p in home.rglob("*") if p.is_file() and any(n in p.read_bytes() for n in NEEDLES)]


def _token_of(keys: Path, values: list[str]) -> list[str]:
    return tokenise(pa.array(values), read_keyring_file(keys / "tokens.json")).to_pylist()


def test_a_table_snapshot_stores_tokens_and_ciphertexts_in_the_lake_and_the_quarantine(
    prefect_api, dask_address, keys, pg_table, tmp_path, monkeypatch
) -> None:
    from flows.ingest_table import ingest_table

    body = contract().model_dump(mode="json", exclude_defaults=True)
    body["columns"][1]["pattern"] = r"^Ada [A-Z][a-z]+ \d+$"
    _contracts(tmp_path / "contracts", "dbtest", body, {"customer": "token", "note": "encrypt"}, monkeypatch)
    monkeypatch.setenv("SLUICE_DATABASES", f'{{"shop": "{PG_URL}"}}')
    get_settings(fresh=True)
    pg_exec(PG_DDL.format(t=f'"{pg_table}"'))
    pg_exec(
        f"INSERT INTO \"{pg_table}\" SELECT g, 'Ada Lovelace ' || g, %s + g * interval '1 hour', g / 4.0, "
        "'secret-note ' || g, %s FROM generate_series(1, 300) g",
        (T0, T0),
    )
    pg_exec(f"UPDATE \"{pg_table}\" SET customer = 'Lovelace, Ada (bad)' WHERE id IN (7, 8)")

    flow = ingest_table.with_options(task_runner=DaskTaskRunner(address=dask_address))
    report = flow("dbtest", connection="shop", table=pg_table)

    assert (report.status, report.rows_written, report.rows_quarantined) == ("completed", 298, 2)
    assert _clear_anywhere(get_settings().home) == []
    lake = lake_table("dbtest").sort_by("id")
    assert lake.column("customer").to_pylist()[:2] == _token_of(keys, ["Ada Lovelace 1", "Ada Lovelace 2"])
    assert all(v.startswith("enc_v1_") for v in lake.column("note").to_pylist())
    assert quarantine_table().num_rows == 2


@pytest.fixture()
def accounts(pg_logical: PgCluster, keys, tmp_path, monkeypatch) -> Iterator[CdcSource]:
    body = yaml.safe_load(ACCOUNTS)
    _contracts(tmp_path / "contracts", "accounts", body, {"name": "token", "body": "encrypt"}, monkeypatch)
    get_settings(fresh=True)
    yield from make_source(pg_logical, ACCOUNTS_DDL, yaml.safe_dump(body, sort_keys=False))


def test_captured_changes_store_tokens_and_ciphertexts_in_the_table_and_its_change_log(
    prefect_api, accounts: CdcSource, keys
) -> None:
    with accounts.connect() as conn:
        with conn.transaction():
            for i in range(40):
                conn.execute(
                    "INSERT INTO accounts (id, name, body, balance) VALUES (%s, %s, %s, %s)",
                    (i, f"Ada Lovelace {i}", f"secret-note {i}", i * 1.5),
                )
        conn.execute("UPDATE accounts SET name = name || ' Byron' WHERE id % 2 = 0")

    report = capture_changes("accounts", accounts.slot, dsn=accounts.dsn, batch_changes=25)

    assert (report.status, report.rows_written) == ("completed", 60)
    assert _clear_anywhere(get_settings().home) == []
    changes = DeltaTable(f"{get_settings().lake_root()}/accounts_changes").to_pyarrow_table()
    assert changes.num_rows == 60
    assert all(v.startswith("enc_v1_") for v in changes.column("body").to_pylist())
    first = [r for r in changes.to_pylist() if r["id"] == 1]
    assert [r["name"] for r in first] == _token_of(keys, ["Ada Lovelace 1"])
