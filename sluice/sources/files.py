"""Listing and fingerprinting source files on local disk or S3 (fsspec)."""

from __future__ import annotations

import errno
import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import fsspec
from fsspec.core import url_to_fs

from sluice.errors import SourceError, SourceNotFoundError, SourceUnreachableError

HASH_BLOCK = 8 * 1024 * 1024


class FileFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"
    PARQUET = "parquet"


_SUFFIXES = {
    ".csv": FileFormat.CSV,
    ".txt": FileFormat.CSV,
    ".jsonl": FileFormat.JSONL,
    ".ndjson": FileFormat.JSONL,
    ".json": FileFormat.JSONL,
    ".parquet": FileFormat.PARQUET,
    ".pq": FileFormat.PARQUET,
}


@dataclass(frozen=True)
class SourceFile:
    """One file to ingest: its URI, size and format."""

    uri: str
    size: int
    format: FileFormat
    gzip: bool


def detect_format(uri: str) -> tuple[FileFormat, bool]:
    """Format and gzip flag from the file name, e.g. ``x.csv.gz``."""
    name = uri.rsplit("/", 1)[-1].lower()
    gz = name.endswith(".gz")
    if gz:
        name = name[:-3]
    for suffix, fmt in _SUFFIXES.items():
        if name.endswith(suffix):
            if fmt is FileFormat.PARQUET and gz:
                raise SourceError(f"{uri}: gzip around Parquet is not supported; Parquet compresses itself")
            return fmt, gz
    raise SourceError(
        f"{uri}: cannot tell the format from the name",
        hint="name files *.csv, *.jsonl, *.ndjson or *.parquet (optionally .gz)",
    )


def filesystem(uri: str, storage_options: dict[str, Any] | None = None) -> tuple[fsspec.AbstractFileSystem, str]:
    try:
        found: tuple[fsspec.AbstractFileSystem, str] = url_to_fs(uri, **(storage_options or {}))
        return found
    except (ImportError, ValueError) as exc:
        raise SourceError(f"cannot open source {uri}: {exc}") from None


def _with_protocol(fs: fsspec.AbstractFileSystem, path: str) -> str:
    protocol = fs.protocol[0] if isinstance(fs.protocol, tuple) else fs.protocol
    return path if protocol in ("file", "local") else f"{protocol}://{path}"


MANIFEST_SUFFIX = ".manifest.json"  # a file drop's control totals beside a data file (sluice.sources.control)


def list_source_files(uri: str, pattern: str = "*", storage_options: dict[str, Any] | None = None) -> list[SourceFile]:
    """Files under ``uri`` matching the glob ``pattern``, in name order; control-total manifests are not data.

    Raises:
        SourceNotFoundError: the location does not exist or nothing matches.
    """
    fs, root = filesystem(uri, storage_options)
    try:
        info = fs.info(root)
        infos = {root: info} if info.get("type") == "file" else fs.glob(f"{root.rstrip('/')}/{pattern}", detail=True)
    except FileNotFoundError:
        raise SourceNotFoundError(f"source {uri} does not exist", hint="check the path or bucket name") from None
    except PermissionError as exc:
        raise SourceError(
            f"not allowed to list source {uri}: {exc}", hint="check the credentials or permissions"
        ) from None
    except Exception as exc:
        if not unreachable(exc):
            if isinstance(exc, OSError):
                raise SourceError(f"cannot list source {uri}: {exc}", hint="check the path, mount or bucket") from None
            raise
        raise SourceUnreachableError(
            f"cannot reach source {uri}: {type(exc).__name__}: {exc}",
            hint="check the endpoint, network and credentials; the listing is retried with backoff",
        ) from None
    files = []
    for path, info in sorted(infos.items()):
        if info.get("type") == "directory" or path.endswith(MANIFEST_SUFFIX):
            continue
        fmt, gz = detect_format(path)
        files.append(SourceFile(uri=_with_protocol(fs, path), size=int(info.get("size") or 0), format=fmt, gzip=gz))
    if not files:
        raise SourceNotFoundError(f"no files match {pattern!r} under {uri}", hint="check --pattern")
    return files


_NETWORK_ERRNOS = {
    errno.ECONNREFUSED,
    errno.ECONNRESET,
    errno.ECONNABORTED,
    errno.ETIMEDOUT,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.ENETDOWN,
    errno.EPIPE,
}


def unreachable(exc: BaseException) -> bool:
    """Errors of reaching storage at all (refused, reset, timed out, no route), which a retry may cure."""
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    if isinstance(exc, OSError) and exc.errno in _NETWORK_ERRNOS:
        return True
    try:
        from botocore.exceptions import ConnectionError as BotoConnectionError
        from botocore.exceptions import HTTPClientError
    except ImportError:  # pragma: no cover - s3fs brings botocore
        return False
    return isinstance(exc, (BotoConnectionError, HTTPClientError))


def sha256_of(uri: str, storage_options: dict[str, Any] | None = None) -> str:
    """SHA-256 of a file's bytes as stored (before decompression)."""
    fs, path = filesystem(uri, storage_options)
    digest = hashlib.sha256()
    with fs.open(path, "rb") as handle:
        while block := handle.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def batch_id(uri: str, sha256: str) -> str:
    """A stable id for one source batch: its path plus its content hash."""
    return "sluice-" + hashlib.sha256(f"{uri}\n{sha256}".encode()).hexdigest()[:32]


def group_files(files: list[SourceFile], target_bytes: int, workers: int = 1) -> list[list[SourceFile]]:
    """Pack files into groups of about ``target_bytes`` (one task per group), balanced by size.

    The number of groups is what packing in order at ``target_bytes`` needs,
    at least one per worker and rounded up to a multiple of the workers, so
    every worker gets the same share of groups; files are then dealt largest
    first to the lightest group. Groups keep their files in source order.
    """
    workers = max(workers, 1)
    count = min(len(files), _round_up(max(_packed_count(files, target_bytes), workers), workers))
    groups: list[list[tuple[int, SourceFile]]] = [[] for _ in range(count)]
    loads = [0] * count
    for i, f in sorted(enumerate(files), key=lambda p: -p[1].size):
        lightest = loads.index(min(loads))
        groups[lightest].append((i, f))
        loads[lightest] += f.size
    return [[f for _, f in sorted(g, key=lambda p: p[0])] for g in groups if g]


def _packed_count(files: list[SourceFile], target_bytes: int) -> int:
    """How many groups packing ``files`` in order, at most ``target_bytes`` each, makes."""
    count, size = 0, 0
    for f in files:
        if count == 0 or (size and size + f.size > target_bytes):
            count, size = count + 1, 0
        size += f.size
    return count


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple
