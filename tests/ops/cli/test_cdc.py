"""`ops cdc slots|status|drop-slot` against a private cluster with logical decoding."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from ops.cli import app
from tests.pgcluster import pg_logical  # noqa: F401 - the session fixture
from tests.sluice.sources.cdc.conftest import CdcSource, cdc_source  # noqa: F401

runner = CliRunner()


def test_slots_status_and_drop(cdc_source: CdcSource, sluice_home) -> None:
    with cdc_source.connect() as conn:
        conn.execute("INSERT INTO accounts (id, name) VALUES (1, 'a')")
    found = runner.invoke(app, ["cdc", "slots", "--dsn", cdc_source.dsn, "--output", "json"])
    assert found.exit_code == 0, found.output
    (mine,) = [s for s in json.loads(found.stdout) if s["name"] == cdc_source.slot]
    assert mine["lag_bytes"] > 0 and mine["plugin"] == "wal2json"
    shown = runner.invoke(app, ["cdc", "status", cdc_source.slot, "--dsn", cdc_source.dsn, "--dataset", "accounts"])
    assert shown.exit_code == 0 and "lag_bytes" in shown.stdout
    assert max(len(line) for line in shown.stdout.splitlines()) <= 80, shown.stdout
    dropped = runner.invoke(app, ["cdc", "drop-slot", cdc_source.slot, "--dsn", cdc_source.dsn, "--yes"])
    assert dropped.exit_code == 0
    missing = runner.invoke(app, ["cdc", "status", cdc_source.slot, "--dsn", cdc_source.dsn])
    assert missing.exit_code == 1 and "does not exist" in missing.output and "Traceback" not in missing.output


def test_wal_level_replica_is_refused_with_a_hint(sluice_home) -> None:
    from tests.postgres import POSTGRES_URL

    dsn = POSTGRES_URL.replace("+psycopg", "")
    shown = runner.invoke(app, ["cdc", "status", "any", "--dsn", dsn])
    assert shown.exit_code == 1 and "wal_level" in shown.output and "hint" in shown.output


def test_status_of_a_keyed_dataset_reads_the_keyed_table(pg_logical, sluice_home, tmp_path, monkeypatch) -> None:
    from sluice.settings import get_settings
    from sluice.sources.cdc.capture import capture
    from tests.sluice.sources.cdc.test_keyed import KEYED, keyed_source, sink

    contracts = tmp_path / "contracts"
    contracts.mkdir()
    (contracts / "accounts.yaml").write_text(KEYED.format(mode="upsert", order="_lsn", deletes="hard"))
    monkeypatch.setenv("SLUICE_CONTRACTS_DIR", str(contracts))
    settings = get_settings(fresh=True)
    for source in keyed_source(pg_logical, "upsert"):
        with source.connect() as conn:
            conn.execute("INSERT INTO accounts (id, name) VALUES (1, 'a'), (2, 'b')")
        capture(source.spec(), sink(source, settings.home))
        args = ["cdc", "status", source.slot, "--dsn", source.dsn, "--dataset", "accounts", "-o", "json"]
        shown = runner.invoke(app, args)
        assert shown.exit_code == 0, shown.output
        found = json.loads(shown.stdout)
        assert found["lake_uri"].endswith("/accounts") and found["lake_lsn"] is not None, found
