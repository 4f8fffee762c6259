"""Builders for manifest tests: a signing key in the settings, and a real ingestion of orders into a lake table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sluice.lake.manifest_keys import generate_key
from sluice.settings import get_settings
from tests.factories import mixed_orders, write_csv
from tests.sluice.lake.commit_worker import Spec, run


def signing_key(monkeypatch: pytest.MonkeyPatch, folder: Path, name: str = "sign") -> str:
    """A new key made signing key of this process (its public half in ``folder/trusted``); returns its id."""
    key_id, public = generate_key(folder / "keys" / name)
    trusted = folder / "trusted"
    trusted.mkdir(parents=True, exist_ok=True)
    (trusted / public.name).write_bytes(public.read_bytes())
    monkeypatch.setenv("SLUICE_MANIFEST_SIGNING_KEY", str(folder / "keys" / name))
    monkeypatch.setenv("SLUICE_MANIFEST_PUBLIC_KEYS_DIR", str(trusted))
    get_settings(fresh=True)
    return key_id


def ingest(
    tmp_path: Path,
    lake_uri: str,
    *,
    run_id: str = "run-1",
    start: int = 1,
    storage_options: dict[str, str] | None = None,
) -> dict[str, object]:
    """Stage one CSV of 40 orders (a few invalid) and commit it as run ``run_id``, as ``ingest-files`` does."""
    src = write_csv(tmp_path / "src" / f"{run_id}.csv", mixed_orders(40, start=start))
    spec = Spec(
        run_id=run_id,
        files=[str(src)],
        staging=str(tmp_path / "staging"),
        lake_uri=lake_uri,
        quarantine_uri=str(tmp_path / "quarantine"),
        storage_options=storage_options,
    )
    report = run(spec)
    assert report["error"] == "", report
    return report


def stored(lake_uri: str, version: int) -> Path:
    return Path(lake_uri) / "_sluice_manifests" / f"{version}.json"


def edit(lake_uri: str, version: int, change) -> None:
    """Rewrite the stored manifest of ``version`` with ``change`` applied to its parsed JSON."""
    path = stored(lake_uri, version)
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc, indent=2))
