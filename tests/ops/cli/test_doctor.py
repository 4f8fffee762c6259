from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.ops.factories import closed_port_url, invoke, sluice_home, write_lake_commit


class _Healthy(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/api/health" else 404)
        self.end_headers()
        self.wfile.write(b"true")

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def healthy_prefect_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Healthy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api"
    finally:
        server.shutdown()
        server.server_close()


def statuses(stdout: str) -> dict[str, str]:
    return {check["name"]: check["status"] for check in json.loads(stdout)}


def test_unreachable_prefect_api_fails_with_hint_and_exit_1(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)
    monkeypatch.setenv("PREFECT_API_URL", closed_port_url())

    result = invoke("doctor", "-o", "json")

    assert result.exit_code == 1
    prefect = next(c for c in json.loads(result.stdout) if c["name"] == "Prefect API")
    assert prefect["status"] == "FAIL"
    assert "prefect server start" in prefect["hint"] and "PREFECT_API_URL=" in prefect["hint"]


def test_json_lists_name_status_detail_hint_for_every_check(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)
    monkeypatch.setenv("PREFECT_API_URL", closed_port_url())

    checks = json.loads(invoke("doctor", "-o", "json").stdout)

    assert [c["name"] for c in checks] == [
        "Settings",
        "Prefect API",
        "Dask",
        "Lake",
        "Quarantine",
        "Metadata store",
        "Contracts",
    ]
    assert all(set(c) == {"name", "status", "detail", "hint"} for c in checks)


def test_fresh_home_is_ok_for_lake_quarantine_metadata_and_contracts(monkeypatch, tmp_path):
    settings = sluice_home(monkeypatch, tmp_path)
    write_lake_commit(settings, "orders", run_id="r1", counts={"rows_read": 2})
    monkeypatch.setenv("PREFECT_API_URL", closed_port_url())

    result = invoke("doctor", "-o", "json")

    found = statuses(result.stdout)
    assert {k: found[k] for k in ("Dask", "Lake", "Quarantine", "Metadata store", "Contracts")} == dict.fromkeys(
        ("Dask", "Lake", "Quarantine", "Metadata store", "Contracts"), "OK"
    )
    lake = next(c for c in json.loads(result.stdout) if c["name"] == "Lake")
    assert "orders" in lake["detail"] and "GiB free" in lake["detail"]


def test_all_ok_exits_0_with_a_table(monkeypatch, tmp_path):
    monkeypatch.setenv("COLUMNS", "200")
    sluice_home(monkeypatch, tmp_path)
    with healthy_prefect_api() as url:
        monkeypatch.setenv("PREFECT_API_URL", url)
        result = invoke("doctor")

    assert result.exit_code == 0, result.output
    assert "FAIL" not in result.stdout and "is healthy" in result.stdout


def test_broken_contract_fails_naming_the_problem(monkeypatch, tmp_path):
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    (contracts / "broken.yaml").write_text("name: broken\nowner: x\n", encoding="utf-8")
    sluice_home(monkeypatch, tmp_path, contracts_dir=str(contracts))
    monkeypatch.setenv("PREFECT_API_URL", closed_port_url())

    checks = {c["name"]: c for c in json.loads(invoke("doctor", "-o", "json").stdout)}

    assert checks["Contracts"]["status"] == "FAIL"
    assert "broken" in checks["Contracts"]["detail"] and "freshness_sla" in checks["Contracts"]["detail"]


def test_metadata_url_password_is_masked(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path, metadata_url="postgresql+psycopg://ops:s3cret@127.0.0.1:1/sluice")
    monkeypatch.setenv("PREFECT_API_URL", closed_port_url())

    result = invoke("doctor", "-o", "json")

    checks = {c["name"]: c for c in json.loads(result.stdout)}
    assert checks["Metadata store"]["status"] == "FAIL"
    assert "ops:***@127.0.0.1:1/sluice" in checks["Metadata store"]["detail"]
    assert "s3cret" not in result.output


def test_a_mistyped_setting_is_a_warning_row_and_leaves_the_exit_code(monkeypatch, tmp_path):
    monkeypatch.setenv("COLUMNS", "80")
    sluice_home(monkeypatch, tmp_path)
    monkeypatch.setenv("SLUICE_LAKE_URL", str(tmp_path / "elsewhere"))
    with healthy_prefect_api() as url:
        monkeypatch.setenv("PREFECT_API_URL", url)
        table = invoke("doctor")
        checks = json.loads(invoke("doctor", "-o", "json").stdout)

    assert table.exit_code == 0, table.output
    assert "SLUICE_LAKE_URL" in table.stdout and "SLUICE_LAKE_URI" in table.stdout
    assert all(len(line) <= 80 for line in table.stdout.splitlines())
    [warning] = [c for c in checks if c["name"] == "Settings"]
    assert warning["status"] == "WARN" and warning["hint"] == "did you mean SLUICE_LAKE_URI?"


def test_each_configured_database_is_a_row_and_an_unreachable_one_fails_the_exit_code(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)
    dead = closed_port_url().rsplit(":", 1)[1].split("/")[0]
    monkeypatch.setenv(
        "SLUICE_DATABASES",
        json.dumps(
            {"shop": "postgresql://postgres@127.0.0.1:5432/test", "old": f"postgresql://u:pw@127.0.0.1:{dead}/x"}
        ),
    )
    monkeypatch.setenv("SLUICE_CDC_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    with healthy_prefect_api() as url:
        monkeypatch.setenv("PREFECT_API_URL", url)
        result = invoke("doctor", "-o", "json")

    assert result.exit_code == 1
    rows = [(c["name"], c["status"]) for c in json.loads(result.stdout)]
    assert ("Database old", "FAIL") in rows and ("Database shop", "OK") in rows
    assert ("Capture source", "WARN") in rows  # the shared server runs wal_level=replica
    assert ("Settings", "OK") in rows  # SLUICE_CDC_DSN is a setting, not a typo
    assert ":pw@" not in result.stdout


def test_a_bad_slot_name_is_a_one_line_error(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)

    result = invoke("doctor", "--slot", "Bad-Slot;")

    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[0] == "error: slot name 'Bad-Slot;' is not a PostgreSQL slot name"
    assert lines[1].startswith("hint: use 1 to 63 lower-case letters") and len(lines) == 2
