"""``ops manifest``: verify a commit or a run, show a manifest, write a missing one, make a key."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sluice.lake.table import table_uri
from sluice.settings import Settings, get_settings
from tests.ops.factories import invoke, run_report, save_runs, sluice_home
from tests.sluice.lake.manifests import edit, ingest, signing_key, stored


@pytest.fixture(autouse=True)
def _no_outer_manifest_settings(monkeypatch: pytest.MonkeyPatch):
    for name in list(os.environ):
        if name.upper().startswith("SLUICE_MANIFEST_"):
            monkeypatch.delenv(name)
    yield
    monkeypatch.undo()
    get_settings(fresh=True)


def _lake(settings: Settings) -> str:
    return table_uri(settings.lake_root(), "orders")


@pytest.fixture()
def signed(monkeypatch, tmp_path) -> tuple[str, str]:
    """A Sluice home whose orders table has one signed commit (version 1) by run ``run-0001``."""
    settings = sluice_home(monkeypatch, tmp_path)
    key_id = signing_key(monkeypatch, tmp_path)
    uri = _lake(settings)
    ingest(tmp_path, uri, run_id="run-0001")
    return uri, key_id


def test_verify_a_sound_commit_exits_0(signed):
    _, key_id = signed

    result = invoke("manifest", "verify", "orders@1")

    assert result.exit_code == 0, result.output
    assert "orders@1: verified" in result.stdout and key_id in result.stdout


def test_verify_json_reports_each_manifest(signed):
    _, key_id = signed

    result = invoke("manifest", "verify", "orders@1", "-o", "json")

    doc = json.loads(result.stdout)
    assert result.exit_code == 0 and doc["ok"] is True
    [m] = doc["manifests"]
    assert (m["dataset"], m["version"], m["status"], m["key_id"], m["run_id"]) == (
        "orders",
        1,
        "verified",
        key_id,
        "run-0001",
    )


def test_verify_a_tampered_file_exits_1_with_one_line_per_problem(signed):
    uri, _ = signed
    doc = json.loads(stored(uri, 1).read_text())
    for f in doc["manifest"]["files"]:
        path = Path(uri) / f["path"]
        data = bytearray(path.read_bytes())
        data[-20] ^= 0x10
        path.write_bytes(bytes(data))

    result = invoke("manifest", "verify", "orders@1")

    assert result.exit_code == 1
    problems = [line for line in result.stdout.splitlines() if line.strip().startswith("tampered file:")]
    assert len(problems) == len(doc["manifest"]["files"])
    assert "orders@1: failed" in result.stdout and "Traceback" not in result.output


def test_verify_an_edited_manifest_exits_1(signed):
    uri, _ = signed
    edit(uri, 1, lambda doc: doc["manifest"].update(run_id="someone-else"))

    result = invoke("manifest", "verify", "orders@1")

    assert result.exit_code == 1
    assert "signature invalid:" in result.stdout and "manifest edited:" in result.stdout


def test_verify_a_run_id_checks_every_commit_of_the_run(signed, tmp_path):
    uri, _ = signed
    ingest(tmp_path / "second", uri, run_id="run-0002", start=5001)
    save_runs(get_settings(), run_report("run-0001"), run_report("run-0002"))

    result = invoke("manifest", "verify", "run-0002", "-o", "json")

    doc = json.loads(result.stdout)
    assert result.exit_code == 0
    assert [(m["version"], m["run_id"]) for m in doc["manifests"]] == [(2, "run-0002")]


def test_verify_an_unknown_run_or_a_malformed_target_fails_without_a_traceback(signed):
    unknown = invoke("manifest", "verify", "no-such-run")
    malformed = invoke("manifest", "verify", "orders@latest")

    assert unknown.exit_code == 1 and "no run 'no-such-run'" in unknown.stderr
    assert malformed.exit_code == 2 and "DATASET@VERSION" in malformed.output
    assert "Traceback" not in unknown.output + malformed.output


def test_verify_without_a_manifest_says_so_and_write_backfills_it(signed):
    uri, key_id = signed
    stored(uri, 1).unlink()

    missing = invoke("manifest", "verify", "orders@1")
    written = invoke("manifest", "write", "orders@1")
    again = invoke("manifest", "write", "orders@1")
    verified = invoke("manifest", "verify", "orders@1")

    assert missing.exit_code == 1 and "no manifest:" in missing.stdout and "ops manifest write" in missing.stdout
    assert written.exit_code == 0 and "_sluice_manifests/1.json" in written.stdout
    assert again.exit_code == 1 and "exists already" in again.stderr
    assert verified.exit_code == 0 and key_id in verified.stdout


def test_an_unsigned_manifest_passes_unless_a_signature_is_required(monkeypatch, tmp_path):
    settings = sluice_home(monkeypatch, tmp_path)
    ingest(tmp_path, _lake(settings))

    relaxed = invoke("manifest", "verify", "orders@1")
    strict = invoke("manifest", "verify", "orders@1", "--require-signature")

    assert relaxed.exit_code == 0 and "orders@1: unsigned" in relaxed.stdout
    assert strict.exit_code == 1 and "unsigned:" in strict.stdout


def test_a_manifest_that_is_not_json_is_one_problem_line(signed):
    uri, _ = signed
    stored(uri, 1).write_text("{" * 50)

    result = invoke("manifest", "verify", "orders@1")

    assert result.exit_code == 1 and "unreadable manifest:" in result.stdout and "is not JSON" in result.stdout
    assert "Traceback" not in result.output


def test_show_prints_the_manifest_as_stored(signed):
    _, key_id = signed

    table = invoke("manifest", "show", "orders@1")
    data = invoke("manifest", "show", "orders@1", "-o", "json")

    assert table.exit_code == 0 and "run run-0001, orders@1 (WRITE)" in table.stdout
    assert f"signature: key {key_id}" in table.stdout and "contract: orders v1" in table.stdout
    [doc] = json.loads(data.stdout)
    assert doc["manifest"]["run_id"] == "run-0001" and doc["signature"]["key_id"] == key_id


def test_keygen_writes_a_key_pair_and_never_overwrites_it(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)
    path = tmp_path / "keys" / "sign.pem"

    made = invoke("manifest", "keygen", str(path))
    again = invoke("manifest", "keygen", str(path))

    assert made.exit_code == 0 and "SLUICE_MANIFEST_SIGNING_KEY=" in made.stdout
    assert path.stat().st_mode & 0o777 == 0o600 and (tmp_path / "keys" / "sign.pem.pub").is_file()
    assert again.exit_code == 1 and "exists already" in again.stderr


def test_every_line_fits_80_columns(signed, monkeypatch):
    from ops.cli._utilities import console

    monkeypatch.setattr(console, "_width", 80)
    for args in (("verify", "orders@1"), ("show", "orders@1")):
        result = invoke("manifest", *args)
        assert result.exit_code == 0
        assert [line for line in result.stdout.splitlines() if len(line) > 80] == []
