"""A place on an object store (``s3://bucket/key``) with the pathlib calls staging makes.

Staging is a local folder by default. When the run's workers are on other
hosts, every worker writes its staged chunks where the flow and the other
workers can read them: ``SLUICE_STAGING_URI=s3://bucket/staging``, reached
with the lake's storage options. :class:`Location` answers the same calls
staging makes of a :class:`pathlib.Path` (``/``, ``name``, ``exists``,
``iterdir``, ``glob``, ``write_text``...), so the staging layout and protocol
are one code path for both; only opening, reading and removing differ
(:mod:`sluice.lake.staging`).

An object store has no folders: ``mkdir`` does nothing, and a "folder"
exists once an object lies under it. Writes of whole objects are atomic.
"""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.fs as pafs

REMOTE_SCHEMES = ("s3://",)


def is_remote(uri: str) -> bool:
    """Whether ``uri`` names an object store rather than a local path."""
    return uri.startswith(REMOTE_SCHEMES)


def s3_filesystem(opts: Mapping[str, str]) -> pafs.S3FileSystem:
    """pyarrow's S3 filesystem from delta-rs style options (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``...)."""
    endpoint = opts.get("AWS_ENDPOINT_URL", "")
    return pafs.S3FileSystem(
        access_key=opts.get("AWS_ACCESS_KEY_ID"),
        secret_key=opts.get("AWS_SECRET_ACCESS_KEY"),
        session_token=opts.get("AWS_SESSION_TOKEN"),
        region=opts.get("AWS_REGION", "us-east-1"),
        endpoint_override=endpoint.split("://", 1)[-1] or None,
        scheme="http" if endpoint.startswith("http://") else "https",
    )


@functools.lru_cache(maxsize=8)
def _filesystem(options: tuple[tuple[str, str], ...]) -> pafs.FileSystem:
    return s3_filesystem(dict(options))


@dataclass(frozen=True, order=True)
class Location:
    """A folder or file under ``uri`` (``s3://bucket/key``), reached with delta-rs style ``options``.

    Small and picklable: workers receive it in their task's arguments and
    open the store themselves.
    """

    uri: str
    options: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, uri: str, options: Mapping[str, str] | None = None) -> Location:
        return cls(uri.rstrip("/"), tuple(sorted((options or {}).items())))

    def __truediv__(self, name: str) -> Location:
        return Location(f"{self.uri}/{name}", self.options)

    def __str__(self) -> str:
        return self.uri

    @property
    def name(self) -> str:
        return self.uri.rsplit("/", 1)[-1]

    @property
    def fs(self) -> pafs.FileSystem:
        return _filesystem(self.options)

    @property
    def key(self) -> str:
        """The bucket and key, as pyarrow's filesystem names it."""
        return self.uri.split("://", 1)[1]

    def _type(self) -> pafs.FileType:
        return self.fs.get_file_info(self.key).type

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        """Nothing to do: a prefix exists once an object lies under it."""

    def exists(self) -> bool:
        return bool(self._type() != pafs.FileType.NotFound)

    def is_dir(self) -> bool:
        return bool(self._type() == pafs.FileType.Directory)

    def is_symlink(self) -> bool:
        return False

    def iterdir(self) -> Iterator[Location]:
        selector = pafs.FileSelector(self.key, allow_not_found=True)
        for info in self.fs.get_file_info(selector):
            yield Location(f"{self.uri}/{info.base_name}", self.options)

    def glob(self, pattern: str) -> Iterator[Location]:
        """Direct children whose names match ``pattern`` (no ``**``)."""
        return (child for child in self.iterdir() if fnmatch.fnmatchcase(child.name, pattern))

    def write_text(self, text: str, encoding: str = "utf-8") -> int:
        data = text.encode(encoding)
        with self.fs.open_output_stream(self.key) as out:
            out.write(data)
        return len(text)

    def read_text(self, encoding: str = "utf-8") -> str:
        with self.fs.open_input_stream(self.key) as src:
            return bytes(src.read()).decode(encoding)

    def open_output(self) -> pa.NativeFile:
        return self.fs.open_output_stream(self.key)

    def open_input(self) -> pa.NativeFile:
        return self.fs.open_input_file(self.key)

    def remove_tree(self) -> None:
        """Delete every object under this prefix (nothing if there is none)."""
        try:
            self.fs.delete_dir(self.key)
        except (FileNotFoundError, OSError):
            return

    def usage(self) -> tuple[int, float]:
        """Bytes of the objects under this prefix and the newest modification time (seconds since the epoch)."""
        selector = pafs.FileSelector(self.key, recursive=True, allow_not_found=True)
        size, newest = 0, 0.0
        for info in self.fs.get_file_info(selector):
            if info.type == pafs.FileType.File:
                size += int(info.size or 0)
            if info.mtime is not None:
                newest = max(newest, info.mtime.timestamp())
        return size, newest
