"""``ops manifest``: the signed manifests of lake commits: verify, show, write one later, make a signing key."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ops.cli._stores import metadata_store
from ops.cli._utilities import (
    OutputFormat,
    OutputOption,
    console,
    exit_with_error,
    load_settings,
    note,
    print_json,
    warn,
    with_cli_exception_handling,
)
from sluice.errors import LakeError
from sluice.paths import ensure_dataset_name

if TYPE_CHECKING:
    from sluice.lake.manifest_verify import Verification
    from sluice.settings import Settings

app = typer.Typer(
    help="Signed run manifests: what each lake commit read and wrote. Verify them, show them, write a missing one.",
    no_args_is_help=True,
)

TargetArgument = Annotated[
    str, typer.Argument(help="DATASET@VERSION (one commit), or a run id (every commit the run made).")
]
_AT = re.compile(r"(?P<dataset>[^@]+)@(?P<version>\d{1,18})")


@dataclass(frozen=True)
class Commit:
    dataset: str
    version: int


def _at(target: str) -> Commit | None:
    """``DATASET@VERSION`` parsed; ``None`` for a run id (no ``@``)."""
    if "@" not in target:
        return None
    found = _AT.fullmatch(target)
    if found is None:
        raise typer.BadParameter("use DATASET@VERSION, e.g. orders@12, or a run id", param_hint="TARGET")
    return Commit(ensure_dataset_name(found["dataset"]), int(found["version"]))


def _options(settings: Settings) -> dict[str, str] | None:
    return dict(settings.lake_storage_options) or None


def _commits(settings: Settings, target: str) -> list[Commit]:
    """The commits ``target`` names: one version, or every commit of a run (found through its run record)."""
    from sluice.lake.manifest_verify import run_commits
    from sluice.runs.metastore import get_run

    one = _at(target)
    if one is not None:
        return [one]
    with metadata_store() as conn:
        report = get_run(conn, target)
    if report is None:
        raise LakeError(
            f"no run {target!r} in the run records", hint="`ops runs list` shows runs; or use DATASET@VERSION"
        )
    found = run_commits(settings.lake_root(), report.dataset, report.run_id, _options(settings))
    if not found:
        raise LakeError(
            f"run {report.run_id} committed nothing to {report.dataset}'s table",
            hint="a run whose batches were all committed before writes no version, and so no manifest",
        )
    return [Commit(dataset, version) for dataset, version in found]


def _table(settings: Settings, dataset: str) -> str:
    from sluice.lake.table import open_table, table_uri

    uri = table_uri(settings.lake_root(), dataset)
    if open_table(uri, _options(settings)) is None:
        raise LakeError(f"dataset {dataset!r} has no table at {uri}", hint="check the name and SLUICE_LAKE_URI")
    return uri


def _print_verification(found: Verification) -> None:
    what = f"{found.dataset}@{found.version}"
    if found.ok:
        key = f"key {found.key_id}" if found.key_id else "no signature"
        console.print(f"{what}: {found.status} ({found.files:,} file(s), {key})", style="green", markup=False)
    else:
        console.print(f"{what}: {found.status}", style="bold red", markup=False)
    for problem in found.problems:
        console.print(f"  {problem.kind.value}: {problem.message}", markup=False)
    for line in found.notes:
        console.print(f"  note: {line}", style="dim", markup=False)


@app.command("verify")
@with_cli_exception_handling
def verify(
    target: TargetArgument,
    *,
    require_signature: Annotated[
        bool, typer.Option("--require-signature", help="An unsigned manifest fails (exit 1).")
    ] = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Check manifests: signature, the Delta log's version, and each file's size and sha256.

    Prints one line per problem and exits 1 when there is any.
    """
    from sluice.lake.manifest_keys import load_signer, trusted_keys
    from sluice.lake.manifest_verify import verify as verify_one

    settings = load_settings()
    commits = _commits(settings, target)
    keys = trusted_keys(settings.manifests, load_signer(settings.manifests))
    results = [
        verify_one(
            _table(settings, c.dataset),
            c.dataset,
            c.version,
            _options(settings),
            keys,
            require_signature=require_signature,
        )
        for c in commits
    ]
    if output is OutputFormat.JSON:
        print_json({"ok": all(r.ok for r in results), "manifests": results})
    else:
        for found in results:
            _print_verification(found)
    if not all(r.ok for r in results):
        raise typer.Exit(1)


@app.command("show")
@with_cli_exception_handling
def show(target: TargetArgument, *, output: OutputOption = OutputFormat.TABLE) -> None:
    """Show manifests as stored: run, inputs, files, contract, code and signature (not verified: use verify)."""
    from sluice.lake.manifest import manifest_location, parse_manifest, read_stored

    settings = load_settings()
    shown = []
    for c in _commits(settings, target):
        uri = _table(settings, c.dataset)
        where = manifest_location(uri, c.version)
        body = read_stored(uri, c.version, _options(settings))
        if body is None:
            exit_with_error(f"no manifest at {where}", hint=f"`ops manifest write {c.dataset}@{c.version}` writes one")
        shown.append((where, parse_manifest(body, where)[1]))
    if output is OutputFormat.JSON:
        print_json([signed.model_dump(mode="json") for _, signed in shown])
        return
    for where, signed in shown:
        m = signed.manifest
        sig = signed.signature
        console.print(where, style="bold", markup=False)
        lines = [
            f"run {m.run_id or '-'}, {m.dataset}@{m.version} ({m.operation}), env {m.env}",
            f"created {m.created_at.isoformat()}" + (", backfilled" if m.backfilled else ""),
            f"signature: {'key ' + sig.key_id if sig else 'none'}",
            f"contract: {m.contract.name} v{m.contract.version}" if m.contract else "contract: -",
            f"code: sluice {m.code.sluice}, git {m.code.git_commit or '-'}" if m.code else "code: -",
            f"inputs ({len(m.inputs):,}):",
            *[f"  {i.source} {i.position or i.sha256 or ''}".rstrip() for i in m.inputs],
            f"files ({len(m.files):,}, {sum(f.size for f in m.files):,} bytes):",
            *[f"  {f.path} {f.size:,} B" for f in m.files],
        ]
        if m.removed:
            lines += [f"removed ({len(m.removed):,}):", *[f"  {p}" for p in m.removed]]
        for line in lines:
            console.print(line, markup=False)


@app.command("write")
@with_cli_exception_handling
def write(target: Annotated[str, typer.Argument(help="DATASET@VERSION of a commit without a manifest.")]) -> None:
    """Write the manifest of a commit that has none, from its Delta log and its files as they are now.

    The manifest is marked backfilled; one that exists is never replaced.
    """
    from sluice.lake.manifest_write import backfill

    commit = _at(target)
    if commit is None:
        raise typer.BadParameter("use DATASET@VERSION, e.g. orders@12", param_hint="TARGET")
    settings = load_settings()
    where = backfill(_table(settings, commit.dataset), commit.version, _options(settings), settings)
    note(f"wrote {where}")


@app.command("keygen")
@with_cli_exception_handling
def keygen(
    path: Annotated[Path, typer.Argument(help="Where the private key goes; its public key goes to PATH.pub.")],
    *,
    encrypt: Annotated[
        bool, typer.Option("--encrypt", help="Ask for a passphrase and encrypt the private key with it.")
    ] = False,
) -> None:
    """Make an Ed25519 signing key (mode 0600) and its public key."""
    from sluice.lake.manifest_keys import generate_key

    passphrase = typer.prompt("Passphrase", hide_input=True, confirmation_prompt=True) if encrypt else None
    key_id, public = generate_key(path, passphrase)
    note(f"key {key_id}: private {path}, public {public}")
    note(f"sign with SLUICE_MANIFEST_SIGNING_KEY={path}; keep {public.name} in SLUICE_MANIFEST_PUBLIC_KEYS_DIR")
    if encrypt:
        warn("set SLUICE_MANIFEST_SIGNING_KEY_PASSPHRASE where runs sign")
