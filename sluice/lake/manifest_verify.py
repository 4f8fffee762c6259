"""Verifying a commit's manifest: its signature, the Delta log's version, and every file it lists.

:func:`verify` reports one :class:`Problem` per thing wrong, never raising
on what it reads from the lake: a missing, damaged, huge or hostile
manifest is a problem of its own. A signed manifest must carry a valid
signature by a trusted key; every file it lists must be in the table
folder with the same size and sha256; and the Delta log's entry for the
version must have added and removed exactly the manifest's files, for the
manifest's run and batches. A file a later commit removed and a vacuum
deleted is a note, not a problem; so is a log entry gone after log
cleanup (the files and the signature are still checked).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sluice.errors import LakeError, ManifestError
from sluice.lake.commit_log import CommitEntry, read_commit
from sluice.lake.log import history
from sluice.lake.manifest import (
    Manifest,
    SignedManifest,
    canonical,
    manifest_location,
    parse_manifest,
    read_stored,
    sha256_file,
)
from sluice.lake.manifest_keys import signature_valid
from sluice.lake.table import lake_filesystem, open_table, table_uri

CHANGES_SUFFIX = "_changes"  # where capture-changes appends an append contract's changes


class Check(enum.StrEnum):
    NO_MANIFEST = "no manifest"
    UNREADABLE = "unreadable manifest"
    UNSIGNED = "unsigned"
    UNKNOWN_KEY = "unknown key"
    SIGNATURE_INVALID = "signature invalid"
    MANIFEST_EDITED = "manifest edited"
    MISSING_FILE = "missing file"
    TAMPERED_FILE = "tampered file"


@dataclass(frozen=True)
class Problem:
    kind: Check
    message: str


@dataclass
class Verification:
    """What verifying one version's manifest found."""

    dataset: str
    version: int
    manifest: str  # where it is (or would be)
    status: str = "verified"  # verified, unsigned, failed, no manifest, unreadable manifest
    key_id: str | None = None
    run_id: str | None = None
    files: int = 0
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def fail(self, kind: Check, message: str) -> None:
        self.problems.append(Problem(kind, message))


def _signature(
    found: Verification, raw: dict[str, Any], signed: SignedManifest, keys: dict[str, Ed25519PublicKey]
) -> None:
    sig = signed.signature
    if sig is None:
        return
    found.key_id = sig.key_id
    public = keys.get(sig.key_id)
    if public is None:
        found.fail(Check.UNKNOWN_KEY, f"signed by key {sig.key_id}, which is not among the trusted keys")
    elif not signature_valid(public, sig.value, canonical(raw["manifest"])):
        found.fail(
            Check.SIGNATURE_INVALID,
            f"the signature by key {sig.key_id} does not match: the manifest was changed after it was signed",
        )


def _against_log(found: Verification, m: Manifest, entry: CommitEntry) -> None:
    edited = Check.MANIFEST_EDITED
    logged = dict(entry.added)
    listed = {f.path: f.size for f in m.files}
    for path in sorted(listed.keys() - logged.keys()):
        found.fail(edited, f"lists {path}, which version {m.version} did not add")
    for path in sorted(logged.keys() - listed.keys()):
        found.fail(edited, f"omits {path}, which version {m.version} added")
    for path in sorted(p for p in listed.keys() & logged.keys() if listed[p] != logged[p]):
        found.fail(edited, f"gives {path} {listed[path]:,} bytes; the Delta log says {logged[path]:,}")
    if set(m.removed) != set(entry.removed):
        found.fail(edited, f"its removed files differ from those version {m.version} removed")
    run = entry.metadata.get("run_id")
    if m.run_id != (str(run) if run is not None else None):
        found.fail(edited, f"names run {m.run_id}; version {m.version} was committed by run {run}")
    if {i.batch_id for i in m.inputs} != set(entry.app_ids):
        found.fail(edited, f"its inputs differ from the batches version {m.version} recorded")


def _current_files(uri: str, storage_options: dict[str, str] | None) -> set[str]:
    table = open_table(uri, storage_options)
    if table is None:
        return set()
    return {str(p) for p in pa.table(table.get_add_actions(flatten=True)).column("path").to_pylist()}


def _files(found: Verification, m: Manifest, uri: str, storage_options: dict[str, str] | None) -> None:
    fs, root = lake_filesystem(uri, storage_options)
    gone = []
    for f in m.files:
        path = f"{root}/{f.path}"
        try:
            info = fs.get_file_info(path)
            if info.type != pafs.FileType.File:
                gone.append(f.path)
                continue
            size, digest = sha256_file(fs, path)
        except (OSError, pa.ArrowException) as exc:
            found.fail(Check.MISSING_FILE, f"{f.path} cannot be read: {str(exc)[:200]}")
            continue
        if size != f.size:
            found.fail(Check.TAMPERED_FILE, f"{f.path} holds {size:,} bytes; the manifest says {f.size:,}")
        elif digest != f.sha256:
            found.fail(Check.TAMPERED_FILE, f"{f.path} has sha256 {digest[:16]}…, the manifest {f.sha256[:16]}…")
    current = _current_files(uri, storage_options) if gone else set()
    for path in gone:
        if path in current:
            found.fail(Check.MISSING_FILE, f"{path} is missing, and the table's current version still reads it")
        else:
            found.notes.append(f"{path} is gone: a later commit removed it and a vacuum deleted it")


def _checked(
    found: Verification,
    uri: str,
    version: int,
    options: dict[str, str] | None,
    keys: dict[str, Ed25519PublicKey],
    require: bool,
) -> None:
    try:
        body = read_stored(uri, version, options)
        if body is None:
            found.status = Check.NO_MANIFEST.value
            found.fail(Check.NO_MANIFEST, f"no manifest at {found.manifest}")
            found.notes.append(f"`ops manifest write {found.dataset}@{version}` writes one from the log and the files")
            return
        raw, signed = parse_manifest(body, found.manifest)
    except ManifestError as exc:
        found.status = Check.UNREADABLE.value
        found.fail(Check.UNREADABLE, str(exc.args[0]))
        return
    m = signed.manifest
    found.run_id, found.files = m.run_id, len(m.files)
    if signed.signature is None:
        if require:
            found.fail(Check.UNSIGNED, "the manifest is unsigned, and a signature is required")
        else:
            found.notes.append("the manifest is unsigned: its files are checked, its origin is not")
    _signature(found, raw, signed, keys)
    if m.version != version or m.dataset != found.dataset:
        found.fail(
            Check.MANIFEST_EDITED, f"it names {m.dataset}@{m.version} but is stored for {found.dataset}@{version}"
        )
    entry = read_commit(uri, version, options)
    if entry is None:
        found.notes.append(f"the Delta log no longer holds version {version} (log cleanup): not compared with it")
    else:
        _against_log(found, m, entry)
    _files(found, m, uri, options)
    found.status = "failed" if found.problems else ("unsigned" if signed.signature is None else "verified")


def verify(
    uri: str,
    dataset: str,
    version: int,
    storage_options: dict[str, str] | None,
    keys: dict[str, Ed25519PublicKey],
    *,
    require_signature: bool = False,
) -> Verification:
    """Verify the manifest of ``dataset``'s version ``version``; never raises on what the lake holds.

    Raises:
        LakeError: the lake itself cannot be reached (the manifest is not the problem).
    """
    found = Verification(dataset, version, manifest_location(uri, version))
    _checked(found, uri, version, storage_options, keys, require_signature)
    if found.problems and found.status == "verified":
        found.status = "failed"
    return found


def run_commits(
    lake_root: str, dataset: str, run_id: str, storage_options: dict[str, str] | None
) -> list[tuple[str, int]]:
    """The (table dataset, version) of every commit ``run_id`` made to ``dataset`` or ``<dataset>_changes``.

    Raises:
        LakeError: neither table exists.
    """
    found, tables = [], 0
    for name in (dataset, f"{dataset}{CHANGES_SUFFIX}"):
        uri = table_uri(lake_root, name)
        if open_table(uri, storage_options) is None:
            continue
        tables += 1
        found += [(name, e.version) for e in history(uri, storage_options=storage_options) if e.run_id == run_id]
    if not tables:
        raise LakeError(f"dataset {dataset!r} has no table", hint="check SLUICE_LAKE_URI")
    return sorted(found)
