"""Run manifests: what one commit of a dataset's table read and wrote, signed and stored beside the commit.

A manifest names the run, the dataset and the environment; the inputs the
commit recorded (each source with its position, and its sha256 when it is a
file); the table, the Delta version and every file the version added (with
its size and sha256) or removed; the contract (name, version and the sha256
of its canonical JSON); and the code (``sluice.__version__`` and the git
commit when the code runs from a checkout). ``policies`` stays ``None``
until the lake has policies to name.

It is built from the Delta log's entry for the version, right after the
commit, with each added file read back and hashed in 1 MiB chunks; its
canonical JSON (sorted keys, no spaces) is signed with Ed25519
(:mod:`sluice.lake.manifest_keys`) and stored at
``<table>/_sluice_manifests/<version>.json`` (delta-rs vacuum leaves that
folder alone). :func:`sluice.lake.manifest_verify.verify` checks one.
"""

from __future__ import annotations

import functools
import hashlib
import json
import subprocess
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Literal

import pyarrow as pa
import pyarrow.fs as pafs
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

import sluice
from sluice.errors import ManifestError
from sluice.lake.commit_log import read_commit
from sluice.lake.manifest_keys import Signer
from sluice.lake.table import lake_filesystem
from sluice.validate.contracts import Contract

MANIFEST_DIR = "_sluice_manifests"
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
CHUNK_BYTES = 1024 * 1024
SHA256 = r"^[0-9a-f]{64}$"


def ensure_table_path(path: str) -> str:
    """Return ``path`` if it names a file inside a table: relative, no ``..``, ``.`` or empty segments.

    Raises:
        ValueError: the path could leave the table folder.
    """
    bad = (
        not path
        or path.startswith("/")
        or "\\" in path
        or "\x00" in path
        or ":" in path.split("/", 1)[0]
        or any(seg in ("", ".", "..") for seg in path.split("/"))
    )
    if bad:
        raise ValueError(f"file name {path[:120]!a} is not a path inside the table")
    return path


TablePath = Annotated[str, AfterValidator(ensure_table_path)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ManifestInput(_Model):
    """One batch the commit recorded: its source, its position in it, and its sha256 when it is a whole file."""

    source: str
    position: str | None = None
    sha256: str | None = Field(default=None, pattern=SHA256)
    batch_id: str


class ManifestFile(_Model):
    """A data file the commit added, as it was right after the commit."""

    path: TablePath
    size: int = Field(ge=0)
    sha256: str = Field(pattern=SHA256)


class ContractRef(_Model):
    name: str
    version: int
    sha256: str = Field(pattern=SHA256)  # of the contract's canonical JSON


class CodeVersion(_Model):
    sluice: str
    git_commit: str | None = None


class Manifest(_Model):
    """What one commit of a table read and wrote."""

    format: Literal[1] = 1
    run_id: str | None
    dataset: str
    env: str
    table_uri: str
    version: int = Field(ge=0)
    operation: str
    inputs: list[ManifestInput]
    files: list[ManifestFile]
    removed: list[TablePath]
    contract: ContractRef | None
    policies: dict[str, str] | None = None  # no policies exist yet: always None
    code: CodeVersion | None
    created_at: datetime
    backfilled: bool = False  # written later by `ops manifest write`, not by the run


class Signature(_Model):
    algorithm: Literal["ed25519"] = "ed25519"
    key_id: str
    value: str


class SignedManifest(_Model):
    """The stored document: the manifest, and its signature (``None``: unsigned)."""

    manifest: Manifest
    signature: Signature | None


def canonical(data: object) -> bytes:
    """The bytes a signature covers: JSON with sorted keys, no spaces, UTF-8."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def contract_ref(contract: Contract) -> ContractRef:
    digest = hashlib.sha256(canonical(contract.model_dump(mode="json"))).hexdigest()
    return ContractRef(name=contract.name, version=contract.version, sha256=digest)


@functools.cache
def git_commit() -> str | None:
    """The commit of the checkout the code runs from; ``None`` for an installed package or without git."""
    here = Path(sluice.__file__).resolve().parent
    try:
        done = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    found = done.stdout.strip()
    return found if done.returncode == 0 and len(found) in (40, 64) else None


def code_version() -> CodeVersion:
    return CodeVersion(sluice=sluice.__version__, git_commit=git_commit())


def provenance(contract: Contract) -> dict[str, object]:
    """What a commit's metadata records for its manifest: the contract and the code."""
    return {"contract": contract_ref(contract).model_dump(), "code": code_version().model_dump()}


def sha256_file(fs: pafs.FileSystem, path: str) -> tuple[int, str]:
    """Size and sha256 of one file, read in 1 MiB chunks."""
    digest, size = hashlib.sha256(), 0
    with fs.open_input_stream(path) as stream:
        while chunk := stream.read(CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _inputs(sources: object) -> list[ManifestInput]:
    found = []
    for item in sources if isinstance(sources, list) else []:
        if not isinstance(item, dict):
            continue
        if "uri" in item:
            found.append(ManifestInput(source=item["uri"], sha256=item.get("sha256"), batch_id=item["batch_id"]))
        else:
            found.append(ManifestInput(source=item["source"], position=item.get("position"), batch_id=item["batch_id"]))
    return found


def _optional(model: type[_Model], value: object) -> Any:
    try:
        return model.model_validate(value) if isinstance(value, dict) else None
    except ValidationError:
        return None


def build_manifest(
    uri: str, version: int, storage_options: dict[str, str] | None, *, env: str, backfilled: bool = False
) -> Manifest:
    """The manifest of version ``version`` of the table at ``uri``, from its Delta log entry and its files.

    Raises:
        ManifestError: the log holds no such version, or an added file is gone or differs in size from the log.
    """
    entry = read_commit(uri, version, storage_options)
    if entry is None:
        raise ManifestError(f"the Delta log of {uri} holds no version {version}", hint="check the version")
    fs, root = lake_filesystem(uri, storage_options)
    files = [_hashed(fs, root, uri, version, path, size) for path, size in entry.added]
    meta = entry.metadata
    return Manifest(
        run_id=str(meta["run_id"]) if meta.get("run_id") is not None else None,
        dataset=str(meta.get("dataset") or uri.rstrip("/").rsplit("/", 1)[-1]),
        env=str(meta.get("env") or env),
        table_uri=uri,
        version=version,
        operation=entry.operation,
        inputs=_inputs(meta.get("sources")),
        files=files,
        removed=list(entry.removed),
        contract=_optional(ContractRef, meta.get("contract")),
        code=_optional(CodeVersion, meta.get("code")),
        created_at=datetime.now(timezone.utc),
        backfilled=backfilled,
    )


def _hashed(fs: pafs.FileSystem, root: str, uri: str, version: int, path: str, logged: int) -> ManifestFile:
    try:
        size, digest = sha256_file(fs, f"{root}/{ensure_table_path(path)}")
    except (OSError, ValueError) as exc:
        raise ManifestError(
            f"{uri}@{version}: cannot read the added file {path}: {exc}",
            hint="a manifest attests only files that are there as committed",
        ) from None
    if size != logged:
        raise ManifestError(
            f"{uri}@{version}: {path} holds {size:,} bytes but the Delta log says {logged:,}",
            hint="the file changed after the commit; a manifest written now would attest a changed file",
        )
    return ManifestFile(path=path, size=size, sha256=digest)


def sign(manifest: Manifest, signer: Signer | None) -> SignedManifest:
    if signer is None:
        return SignedManifest(manifest=manifest, signature=None)
    value = signer.sign(canonical(manifest.model_dump(mode="json")))
    return SignedManifest(manifest=manifest, signature=Signature(key_id=signer.key_id, value=value))


def manifest_path(uri: str, version: int, storage_options: dict[str, str] | None) -> tuple[pafs.FileSystem, str]:
    fs, root = lake_filesystem(uri, storage_options)
    return fs, f"{root}/{MANIFEST_DIR}/{version}.json"


def manifest_location(uri: str, version: int) -> str:
    return f"{uri.rstrip('/')}/{MANIFEST_DIR}/{version}.json"


def write_manifest(uri: str, signed: SignedManifest, storage_options: dict[str, str] | None) -> str:
    """Store ``signed`` beside its commit; returns where. Never replaces a manifest.

    Raises:
        ManifestError: one exists already for the version, or it cannot be written.
    """
    version = signed.manifest.version
    fs, path = manifest_path(uri, version, storage_options)
    body = json.dumps(signed.model_dump(mode="json"), indent=2, sort_keys=True, ensure_ascii=False).encode()
    try:
        if fs.get_file_info(path).type != pafs.FileType.NotFound:
            raise ManifestError(
                f"{manifest_location(uri, version)} exists already",
                hint=f"check it with `ops manifest verify {signed.manifest.dataset}@{version}`",
            )
        fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        if isinstance(fs, pafs.LocalFileSystem):  # a rename: readers never see half a manifest
            partial = f"{path}.{uuid.uuid4().hex}.partial"
            with fs.open_output_stream(partial) as out:
                out.write(body)
            fs.move(partial, path)
        else:  # an object store's PUT is atomic
            with fs.open_output_stream(path) as out:
                out.write(body)
    except (OSError, pa.ArrowException) as exc:
        raise ManifestError(
            f"cannot write {manifest_location(uri, version)}: {exc}",
            hint=f"the commit stands; `ops manifest write {signed.manifest.dataset}@{version}` writes it later",
        ) from None
    return manifest_location(uri, version)


def read_stored(uri: str, version: int, storage_options: dict[str, str] | None) -> bytes | None:
    """The stored manifest's bytes, ``None`` when there is none.

    Raises:
        ManifestError: it is larger than :data:`MAX_MANIFEST_BYTES`, or cannot be read.
    """
    fs, path = manifest_path(uri, version, storage_options)
    where = manifest_location(uri, version)
    try:
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.NotFound:
            return None
        if info.type != pafs.FileType.File or (info.size or 0) > MAX_MANIFEST_BYTES:
            raise ManifestError(
                f"{where} is not a manifest: {'a folder' if info.type != pafs.FileType.File else 'too large'}",
                hint=f"a manifest is a JSON file of at most {MAX_MANIFEST_BYTES // 2**20} MiB",
            )
        with fs.open_input_stream(path) as stream:
            return bytes(stream.read(MAX_MANIFEST_BYTES + 1))
    except (OSError, pa.ArrowException) as exc:
        raise ManifestError(f"cannot read {where}: {exc}", hint="check the lake path and credentials") from None


def parse_manifest(body: bytes, where: str) -> tuple[dict[str, Any], SignedManifest]:
    """The stored document as parsed JSON and as a model.

    Raises:
        ManifestError: not UTF-8 JSON, or not a manifest (a field missing, of the wrong type, a file outside the table).
    """
    hint = "the manifest was damaged or replaced; if the commit is sound, move it away and `ops manifest write` anew"
    if len(body) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"{where} is larger than {MAX_MANIFEST_BYTES // 2**20} MiB", hint=hint)
    try:
        raw = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ManifestError(f"{where} is not JSON: {str(exc)[:200]}", hint=hint) from None
    if not isinstance(raw, dict) or not isinstance(raw.get("manifest"), dict):
        raise ManifestError(f"{where} is not a manifest: no `manifest` object", hint=hint)
    try:
        return raw, SignedManifest.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        at = ".".join(str(p) for p in first["loc"])
        raise ManifestError(
            f"{where} is not a valid manifest ({exc.error_count()} problem(s)); {at}: {first['msg'][:200]}", hint=hint
        ) from None
