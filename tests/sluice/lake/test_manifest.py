"""Run manifests: a real commit writes one that verifies; tampering, edits, deletions and foreign keys fail."""

from __future__ import annotations

import json
import os
import threading
import uuid
from pathlib import Path

import pytest

from sluice.errors import ConfigError, ManifestError
from sluice.lake.manifest import canonical, read_stored
from sluice.lake.manifest_keys import generate_key, load_signer, trusted_keys
from sluice.lake.manifest_verify import Check, Verification, run_commits, verify
from sluice.lake.manifest_write import backfill
from sluice.lake.table import open_table
from sluice.settings import get_settings
from tests.factories import mixed_orders, write_csv
from tests.sluice.lake.commit_worker import Spec, run
from tests.sluice.lake.manifests import edit, ingest, signing_key, stored


@pytest.fixture(autouse=True)
def _no_outer_manifest_settings(monkeypatch: pytest.MonkeyPatch):
    for name in list(os.environ):
        if name.upper().startswith("SLUICE_MANIFEST_"):
            monkeypatch.delenv(name)
    yield
    monkeypatch.undo()
    get_settings(fresh=True)


def _check(lake_uri: str, version: int = 1, *, require_signature: bool = False, **options: str) -> Verification:
    manifests = get_settings(fresh=True).manifests
    keys = trusted_keys(manifests, load_signer(manifests))
    return verify(lake_uri, "orders", version, options or None, keys, require_signature=require_signature)


def _kinds(found: Verification) -> list[Check]:
    return [p.kind for p in found.problems]


def _data_file(lake_uri: str) -> Path:
    doc = json.loads(stored(lake_uri, 1).read_text())
    return Path(lake_uri) / doc["manifest"]["files"][0]["path"]


@pytest.fixture()
def signed_lake(tmp_path, monkeypatch) -> tuple[str, str]:
    """A lake table with one signed commit (version 1); returns its URI and the key id."""
    key_id = signing_key(monkeypatch, tmp_path)
    uri = str(tmp_path / "lake" / "orders")
    ingest(tmp_path, uri)
    return uri, key_id


def test_a_real_commit_writes_a_signed_manifest_that_verifies(signed_lake):
    uri, key_id = signed_lake

    found = _check(uri)

    assert (found.status, found.key_id, found.problems, found.run_id) == ("verified", key_id, [], "run-1")
    doc = json.loads(stored(uri, 1).read_text())
    m = doc["manifest"]
    assert (m["dataset"], m["version"], m["env"], m["operation"], m["backfilled"]) == (
        "orders",
        1,
        "dev",
        "WRITE",
        False,
    )
    assert [i["source"].rsplit("/", 1)[-1] for i in m["inputs"]] == ["run-1.csv"]
    assert len(m["inputs"][0]["sha256"]) == 64 and m["inputs"][0]["position"] is None
    assert m["files"] and all(len(f["sha256"]) == 64 and f["size"] > 0 for f in m["files"])
    assert (m["contract"]["name"], m["contract"]["version"]) == ("orders", 1) and len(m["contract"]["sha256"]) == 64
    assert m["code"]["sluice"] and m["policies"] is None
    assert doc["signature"]["key_id"] == key_id and doc["signature"]["algorithm"] == "ed25519"


def test_the_manifest_lists_exactly_the_files_the_commit_added(signed_lake):
    from deltalake import DeltaTable

    uri, _ = signed_lake
    listed = {f["path"] for f in json.loads(stored(uri, 1).read_text())["manifest"]["files"]}

    assert listed == {str(Path(p).relative_to(Path(uri).resolve())) for p in DeltaTable(uri).file_uris()}


def test_one_flipped_byte_in_a_lake_file_fails_as_tampered(signed_lake):
    uri, _ = signed_lake
    path = _data_file(uri)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))

    found = _check(uri)

    assert found.status == "failed" and _kinds(found) == [Check.TAMPERED_FILE]
    assert path.name in found.problems[0].message and "sha256" in found.problems[0].message


def test_a_deleted_lake_file_fails_as_missing(signed_lake):
    uri, _ = signed_lake
    path = _data_file(uri)
    path.unlink()

    found = _check(uri)

    assert _kinds(found) == [Check.MISSING_FILE] and path.name in found.problems[0].message


def test_an_edited_manifest_field_fails_its_signature(signed_lake):
    uri, _ = signed_lake
    edit(uri, 1, lambda doc: doc["manifest"].update(env="prod"))

    found = _check(uri)

    assert _kinds(found) == [Check.SIGNATURE_INVALID]
    assert "changed after it was signed" in found.problems[0].message


def test_an_edited_file_hash_fails_the_signature_and_the_file_check(signed_lake):
    uri, _ = signed_lake
    edit(uri, 1, lambda doc: doc["manifest"]["files"][0].update(sha256="0" * 64))

    assert set(_kinds(_check(uri))) == {Check.SIGNATURE_INVALID, Check.TAMPERED_FILE}


def test_an_unsigned_manifest_edited_to_hide_a_file_disagrees_with_the_delta_log(tmp_path):
    uri = str(tmp_path / "lake" / "orders")
    ingest(tmp_path, uri)
    edit(uri, 1, lambda doc: doc["manifest"]["files"].pop())

    found = _check(uri)

    assert _kinds(found) == [Check.MANIFEST_EDITED] and "omits" in found.problems[0].message


def test_a_manifest_signed_by_another_key_fails_as_unknown_key(signed_lake, tmp_path, monkeypatch):
    uri, _ = signed_lake
    stranger, _ = generate_key(tmp_path / "elsewhere" / "stranger")
    monkeypatch.setenv("SLUICE_MANIFEST_SIGNING_KEY", str(tmp_path / "elsewhere" / "stranger"))
    stored(uri, 1).unlink()
    backfill(uri, 1, None, get_settings(fresh=True))
    monkeypatch.delenv("SLUICE_MANIFEST_SIGNING_KEY")

    found = _check(uri)

    assert _kinds(found) == [Check.UNKNOWN_KEY] and stranger in found.problems[0].message


def test_a_signature_swapped_in_from_another_key_with_the_same_id_fails(signed_lake, tmp_path):
    from sluice.lake.manifest_keys import Signer

    uri, key_id = signed_lake
    generate_key(tmp_path / "k2" / "other")
    forged = load_signer(
        get_settings(fresh=True).manifests.model_copy(update={"signing_key": tmp_path / "k2" / "other"})
    )
    assert forged is not None
    doc = json.loads(stored(uri, 1).read_text())
    doc["signature"]["value"] = Signer(forged.key, key_id).sign(canonical(doc["manifest"]))
    stored(uri, 1).write_text(json.dumps(doc))

    assert _kinds(_check(uri)) == [Check.SIGNATURE_INVALID]


def test_a_retired_key_in_the_public_keys_folder_still_verifies_its_manifests(signed_lake, tmp_path, monkeypatch):
    uri, old_id = signed_lake
    new_id = signing_key(monkeypatch, tmp_path, name="next")
    ingest(tmp_path, uri, run_id="run-2", start=5001)

    first, second = _check(uri, 1), _check(uri, 2)

    assert (first.status, first.key_id) == ("verified", old_id)
    assert (second.status, second.key_id) == ("verified", new_id)


def test_without_a_key_manifests_are_unsigned_and_fail_only_when_a_signature_is_required(tmp_path):
    uri = str(tmp_path / "lake" / "orders")
    ingest(tmp_path, uri)

    relaxed, strict = _check(uri), _check(uri, require_signature=True)

    assert (relaxed.status, relaxed.problems) == ("unsigned", [])
    assert any("unsigned" in n for n in relaxed.notes)
    assert _kinds(strict) == [Check.UNSIGNED]


def test_required_signing_without_a_key_fails_the_run_before_it_commits(tmp_path, monkeypatch):
    monkeypatch.setenv("SLUICE_MANIFEST_REQUIRE_SIGNING", "true")
    uri = str(tmp_path / "lake" / "orders")
    src = write_csv(tmp_path / "src" / "a.csv", mixed_orders(10))
    spec = Spec("run-1", [str(src)], str(tmp_path / "staging"), uri, str(tmp_path / "quarantine"))

    report = run(spec)

    assert "ConfigError" in str(report["error"]) and "no signing key" in str(report["error"])
    assert open_table(uri) is None


def test_a_commit_without_a_manifest_says_so_and_a_backfill_writes_one(signed_lake):
    uri, key_id = signed_lake
    stored(uri, 1).unlink()  # as if the run died between its commit and its manifest

    missing = _check(uri)
    where = backfill(uri, 1, None, get_settings(fresh=True))
    found = _check(uri)

    assert _kinds(missing) == [Check.NO_MANIFEST] and "ops manifest write orders@1" in missing.notes[0]
    assert where.endswith("_sluice_manifests/1.json")
    assert (found.status, found.key_id) == ("verified", key_id)
    assert json.loads(stored(uri, 1).read_text())["manifest"]["backfilled"] is True


def test_a_backfill_never_replaces_a_manifest_nor_attests_a_changed_file(signed_lake):
    uri, _ = signed_lake
    with pytest.raises(ManifestError, match="exists already"):
        backfill(uri, 1, None, get_settings())
    stored(uri, 1).unlink()
    path = _data_file_from_log(uri)
    path.write_bytes(path.read_bytes() + b"x")

    with pytest.raises(ManifestError, match="the Delta log says"):
        backfill(uri, 1, None, get_settings())
    assert not stored(uri, 1).exists()


def _data_file_from_log(uri: str) -> Path:
    from sluice.lake.commit_log import read_commit

    entry = read_commit(uri, 1)
    assert entry is not None
    return Path(uri) / entry.added[0][0]


def test_a_manifest_that_cannot_be_written_leaves_the_commit_standing(tmp_path):
    uri = str(tmp_path / "lake" / "orders")
    (Path(uri) / "_sluice_manifests").mkdir(parents=True)
    (Path(uri) / "_sluice_manifests" / "1.json").mkdir()  # a folder where the manifest goes

    report = ingest(tmp_path, uri)

    assert report["rows_written"] == 44
    assert _kinds(_check(uri)) == [Check.UNREADABLE]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"{not json", "is not JSON"),
        (b"\xff\xfe\x00garbage", "is not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "is not JSON"),
        (b'{"manifest": 3}', "no `manifest` object"),
        (b'{"manifest": {"version": 1}, "signature": null}', "is not a valid manifest"),
    ],
    ids=["broken", "binary", "deeply-nested", "wrong-shape", "fields-missing"],
)
def test_a_manifest_that_is_not_one_is_reported_not_raised(tmp_path, body, says):
    uri = str(tmp_path / "lake" / "orders")
    ingest(tmp_path, uri)
    stored(uri, 1).write_bytes(body)

    found = _check(uri)

    assert _kinds(found) == [Check.UNREADABLE] and says in found.problems[0].message


def test_a_huge_manifest_is_refused_unread(tmp_path):
    uri = str(tmp_path / "lake" / "orders")
    ingest(tmp_path, uri)
    with stored(uri, 1).open("r+b") as f:
        f.truncate(65 * 1024 * 1024)  # sparse: the size alone refuses it

    found = _check(uri)

    assert _kinds(found) == [Check.UNREADABLE] and "too large" in found.problems[0].message


@pytest.mark.parametrize(
    "path", ["../../../etc/passwd", "/etc/passwd", "dt=x/../../secret", "s3://other/x", "a\\..\\b"]
)
def test_a_file_name_that_leaves_the_table_is_refused_before_anything_is_opened(tmp_path, path):
    uri = str(tmp_path / "lake" / "orders")
    ingest(tmp_path, uri)
    edit(uri, 1, lambda doc: doc["manifest"]["files"][0].update(path=path))

    found = _check(uri)

    assert _kinds(found) == [Check.UNREADABLE] and "not a path inside the table" in found.problems[0].message


def test_a_version_without_a_commit_or_table_is_no_manifest(tmp_path):
    uri = str(tmp_path / "lake" / "orders")
    ingest(tmp_path, uri)

    assert _kinds(_check(uri, 7)) == [Check.NO_MANIFEST]
    assert read_stored(uri, 7, None) is None


def test_two_runs_committing_concurrently_each_write_a_manifest_that_verifies(tmp_path, monkeypatch):
    signing_key(monkeypatch, tmp_path)
    uri = str(tmp_path / "lake" / "orders")
    ingest(tmp_path, uri, run_id="run-0", start=9001)  # the table exists: both runs append to it
    results: dict[str, dict[str, object]] = {}
    gate = threading.Barrier(2)

    def one(run_id: str, start: int) -> None:
        gate.wait()
        results[run_id] = ingest(tmp_path / run_id, uri, run_id=run_id, start=start)

    threads = [threading.Thread(target=one, args=(r, s)) for r, s in (("run-a", 1), ("run-b", 5001))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert set(results) == {"run-a", "run-b"}
    found = [_check(uri, v) for v in (2, 3)]
    assert [f.status for f in found] == ["verified", "verified"]
    assert {f.run_id for f in found} == {"run-a", "run-b"}
    assert run_commits(str(tmp_path / "lake"), "orders", "run-a", None) in ([("orders", 2)], [("orders", 3)])


def test_a_lake_on_s3_gets_manifests_that_verify_and_catch_tampering(tmp_path, monkeypatch):
    import boto3
    from moto.server import ThreadedMotoServer

    from sluice.sources.s3 import delta_options

    key_id = signing_key(monkeypatch, tmp_path)
    bucket = f"lake-{uuid.uuid4().hex[:12]}"  # moto's store is one per process: earlier tests' buckets stay
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        s3 = boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
        )
        s3.create_bucket(Bucket=bucket)
        options = delta_options({"key": "t", "secret": "t", "endpoint_url": endpoint})
        uri = f"s3://{bucket}/tables/orders"
        ingest(tmp_path, uri, storage_options=options)
        sound = _check(uri, **options)
        doc = json.loads(s3.get_object(Bucket=bucket, Key="tables/orders/_sluice_manifests/1.json")["Body"].read())
        key = f"tables/orders/{doc['manifest']['files'][0]['path']}"
        data = bytearray(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        data[100] ^= 0xFF
        s3.put_object(Bucket=bucket, Key=key, Body=bytes(data))
        tampered = _check(uri, **options)
    finally:
        server.stop()

    assert (sound.status, sound.key_id, sound.problems) == ("verified", key_id, [])
    assert _kinds(tampered) == [Check.TAMPERED_FILE]


def test_a_key_that_is_not_an_ed25519_private_key_is_a_config_error(tmp_path, monkeypatch):
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nnonsense\n-----END PRIVATE KEY-----\n")
    monkeypatch.setenv("SLUICE_MANIFEST_SIGNING_KEY", str(bad))

    with pytest.raises(ConfigError, match="not a PEM private key"):
        load_signer(get_settings(fresh=True).manifests)


def test_keygen_never_overwrites_a_key(tmp_path):
    generate_key(tmp_path / "k")

    with pytest.raises(ConfigError, match="exists already"):
        generate_key(tmp_path / "k")
    assert oct((tmp_path / "k").stat().st_mode & 0o777) == "0o600"


def test_an_encrypted_key_loads_only_with_its_passphrase(tmp_path, monkeypatch):
    made, _ = generate_key(tmp_path / "k", "s3cret-phrase")
    monkeypatch.setenv("SLUICE_MANIFEST_SIGNING_KEY", str(tmp_path / "k"))

    with pytest.raises(ConfigError, match="encrypted and no passphrase is set"):
        load_signer(get_settings(fresh=True).manifests)
    monkeypatch.setenv("SLUICE_MANIFEST_SIGNING_KEY_PASSPHRASE", "wrong")
    with pytest.raises(ConfigError, match="passphrase is wrong"):
        load_signer(get_settings(fresh=True).manifests)
    monkeypatch.setenv("SLUICE_MANIFEST_SIGNING_KEY_PASSPHRASE", "s3cret-phrase")
    signer = load_signer(get_settings(fresh=True).manifests)
    assert signer is not None and signer.key_id == made
