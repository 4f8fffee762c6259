"""End to end: an ``ingest-files`` flow run signs its manifest with a key from a Prefect Secret block."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sluice.lake.manifest_keys import key_id, public_pem
from sluice.settings import get_settings
from tests.factories import mixed_orders, write_csv
from tests.flows.helpers import run_ingest
from tests.ops.factories import invoke

pytestmark = pytest.mark.integration


def test_a_flow_run_signs_with_a_secret_block_key_and_verify_by_run_id_passes(
    prefect_api, dask_address, sluice_home, tmp_path, monkeypatch
):
    from prefect.blocks.system import Secret

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    Secret(value=pem.decode()).save("sluice-manifest-key-test", overwrite=True)
    trusted = tmp_path / "trusted"
    trusted.mkdir()
    (trusted / "current.pub").write_bytes(public_pem(key.public_key()))
    monkeypatch.setenv("SLUICE_MANIFEST_PUBLIC_KEYS_DIR", str(trusted))
    monkeypatch.setenv("SLUICE_MANIFEST_SIGNING_KEY_BLOCK", "sluice-manifest-key-test")
    get_settings(fresh=True)
    write_csv(tmp_path / "in" / "a.csv", mixed_orders(30))

    report = run_ingest(dask_address, "orders", str(tmp_path / "in"))
    monkeypatch.delenv("SLUICE_MANIFEST_SIGNING_KEY_BLOCK")  # verification needs only the public keys
    result = invoke("manifest", "verify", report.run_id, "-o", "json")

    doc = json.loads(result.stdout)
    assert result.exit_code == 0, result.output
    [m] = doc["manifests"]
    assert (m["version"], m["status"], m["key_id"], m["run_id"]) == (
        report.lake_version,
        "verified",
        key_id(key.public_key()),
        report.run_id,
    )
