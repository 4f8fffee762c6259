"""``ops protect``: the keys of protected PII columns: make and rotate keyrings, list and re-wrap data keys."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from ops.cli._tables import key, print_fitted, text
from ops.cli._utilities import (
    OutputFormat,
    OutputOption,
    cell,
    exit_with_success,
    load_settings,
    note,
    print_json,
    with_cli_exception_handling,
)
from sluice.paths import ensure_dataset_name

app = typer.Typer(
    help="Keys of protected PII columns: keyrings for tokens and key wrapping, the datasets' data keys.",
    no_args_is_help=True,
)

PathArgument = Annotated[Path, typer.Argument(help="The keyring file (JSON, mode 0600).")]
DatasetsArgument = Annotated[
    list[str] | None, typer.Argument(help="Datasets whose data keys to act on (default: every contract's).")
]


@dataclass(frozen=True)
class DataKeyRow:
    dataset: str
    key_id: str
    provider: str
    kek_version: str
    wrapped_at: str


@app.command("keygen")
@with_cli_exception_handling
def keygen(path: PathArgument) -> None:
    """Write a new keyring (version 1) to PATH; never overwrites. Paste its JSON into a Prefect Secret block."""
    from sluice.governance.keyring import new_keyring, write_keyring_file

    write_keyring_file(path, new_keyring(str(path)))
    note(f"wrote a keyring with key version 1 to {path}")


@app.command("rotate")
@with_cli_exception_handling
def rotate(path: PathArgument) -> None:
    """Add a new key version to the keyring file PATH and make it current; older versions stay."""
    from sluice.governance.keyring import read_keyring_file, write_keyring_file

    rotated = read_keyring_file(path).rotated()
    write_keyring_file(path, rotated, replace=True)
    note(f"{path}: key version {rotated.current} is current; versions {sorted(rotated.keys)} are kept")


def _datasets(names: list[str] | None) -> list[str]:
    from sluice.paths import is_dataset_name
    from sluice.validate.contracts import available_contracts

    if names:
        return [ensure_dataset_name(n) for n in names]
    return [n for n in available_contracts(load_settings().contracts_root()) if is_dataset_name(n)]


@app.command("keys")
@with_cli_exception_handling
def keys(datasets: DatasetsArgument = None, output: OutputOption = OutputFormat.TABLE) -> None:
    """List the datasets' data keys and the KEK version that wraps each."""
    from sluice.governance.envelope import KeyStore

    settings = load_settings()
    store = KeyStore(settings.lake_root(), dict(settings.lake_storage_options))
    rows = []
    for dataset in _datasets(datasets):
        for key_id in store.key_ids(dataset):
            wrapped = store.read(dataset, key_id)
            rows.append(DataKeyRow(dataset, key_id, wrapped.provider, wrapped.version, wrapped.wrapped_at.isoformat()))
    if output is OutputFormat.JSON:
        print_json(rows)
        return
    if not rows:
        exit_with_success("no data keys yet: no dataset has an encrypted column with data")
    print_fitted(
        [key("Dataset"), text("Data key"), key("KEK"), key("Version"), text("Wrapped at")],
        [[cell(r.dataset), cell(r.key_id), cell(r.provider), cell(r.kek_version), cell(r.wrapped_at)] for r in rows],
    )


@app.command("rewrap")
@with_cli_exception_handling
def rewrap(datasets: DatasetsArgument = None) -> None:
    """Re-wrap data keys under the KEK's current version after a rotation; data files are not rewritten."""
    from sluice.governance.envelope import KeyStore
    from sluice.governance.envelope import rewrap as rewrap_keys
    from sluice.governance.kek import load_kek

    settings = load_settings()
    store = KeyStore(settings.lake_root(), dict(settings.lake_storage_options))
    done = rewrap_keys(store, _datasets(datasets), load_kek(settings.protect))
    for item in done:
        note(f"{item.dataset} {item.key_id}: KEK version {item.from_version} -> {item.to_version}")
    note(f"re-wrapped {len(done)} data key(s)")
