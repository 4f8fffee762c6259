"""What every reader shares: raw chunks, malformed rows, the file's layout, opening and failing.

Every reader yields :class:`RawChunk` objects of at most ``chunk_rows`` rows,
so memory stays flat however large the file. Rows that cannot be parsed at
all (wrong field count, malformed JSON) come back in ``malformed`` with their
line number.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from sluice.errors import UnreadableFileError
from sluice.formats.encoding import (
    SAMPLE_BYTES,
    EncodingChoice,
    choose_encoding,
    first_bad_utf8,
)
from sluice.sources.files import SourceFile, filesystem
from sluice.validate.quality import FailureLog, Reason


@dataclass(frozen=True)
class MalformedRow:
    line: int
    text: str
    reason: Reason
    detail: str


@dataclass
class RawChunk:
    table: pa.Table  # the contract's columns found in the file (others absent)
    rows: np.ndarray  # int64 source line (or record) number of each row
    malformed: list[MalformedRow] = field(default_factory=list)
    # Values the reader refused (a nested value of the wrong shape), by row position in ``table``
    failures: FailureLog = field(default_factory=FailureLog)


def undecodable_row(line: int, raw: bytes, detail: str) -> MalformedRow:
    """A record whose bytes are not text in the file's encoding; its raw bytes are kept in base64."""
    return MalformedRow(line, base64.b64encode(raw).decode("ascii"), Reason.UNDECODABLE_BYTES, detail)


def blank_undecodable_lines(block: bytes, first_line: int) -> tuple[bytes, list[MalformedRow]]:
    """A block of UTF-8 lines with each line that is not UTF-8 blanked, and those lines as quarantine entries.

    For line-oriented formats (JSON Lines): blanking keeps every other line's
    number. A valid block costs one ASCII test, or one UTF-8 check.
    """
    if block.isascii() or first_bad_utf8(block) is None:
        return block, []
    lines, bad = block.split(b"\n"), []
    for offset, raw in enumerate(lines):
        at = first_bad_utf8(raw)
        if at is not None:
            bad.append(
                undecodable_row(
                    first_line + offset, raw, f"bytes that are not UTF-8 at byte {at} ({raw[at : at + 4]!r})"
                )
            )
            lines[offset] = b""
    return b"\n".join(lines), bad


@dataclass
class FileLayout:
    encoding: str
    columns: list[str]
    missing: list[str]
    extra: list[str]
    guessed: bool = False  # the encoding is a guess from a sample (see sluice.formats.encoding)
    # contract column -> its name as the header spells it (surrounding spaces kept)
    header_names: dict[str, str] = field(default_factory=dict)


class NeedsReencode(Exception):
    """The file must be read again from the start.

    ``choice`` says how; None: its text was all ASCII before bytes that are not
    UTF-8, and its encoding must be guessed again (``redetect_encoding``).
    """

    def __init__(self, choice: EncodingChoice | None = None) -> None:
        super().__init__("read the file again" + (f" as {choice}" if choice else " under a guessed encoding"))
        self.choice = choice


def open_source(src: SourceFile, storage_options: dict[str, Any] | None) -> io.BufferedIOBase:
    fs, path = filesystem(src.uri, storage_options)
    stream: io.BufferedIOBase = fs.open(path, "rb", compression="gzip" if src.gzip else None)
    return stream


def sample_of(src: SourceFile, storage_options: dict[str, Any] | None) -> bytes:
    with open_source(src, storage_options) as handle:
        return handle.read(SAMPLE_BYTES)


def layout_of(header: list[str], wanted: list[str], encoding: str, *, guessed: bool = False) -> FileLayout:
    names = {h.lstrip("\ufeff").strip(): h for h in reversed(header)}  # the first of equal names wins
    return FileLayout(
        encoding=encoding,
        columns=[c for c in wanted if c in names],
        missing=[c for c in wanted if c not in names],
        extra=[h for h in names if h not in wanted][::-1],
        guessed=guessed,
        header_names={c: names[c] for c in wanted if c in names},
    )


class TextReader:
    """What the text formats share: the file, the wanted columns and the encoding."""

    def __init__(
        self,
        src: SourceFile,
        wanted: list[str],
        *,
        encoding: str | EncodingChoice | None,
        chunk_rows: int,
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        self.src, self.wanted, self.chunk_rows, self.opts = src, wanted, chunk_rows, storage_options
        self.sample = sample_of(src, storage_options)
        self.choice = (
            encoding
            if isinstance(encoding, EncodingChoice)
            else choose_encoding(self.sample, declared=encoding, path=src.uri)
        )
        self.encoding = self.choice.name
        self.declared = self.choice.decided


def unreadable(src: SourceFile, exc: BaseException) -> UnreadableFileError:
    text = str(exc)
    if src.gzip and (
        "end-of-stream" in text
        or "Compressed file ended" in text
        or isinstance(exc, EOFError)
        or "CRC" in text
        or "gzip" in text.lower()
    ):
        return UnreadableFileError(
            f"{src.uri}: gzip stream is truncated or corrupt ({text})",
            hint="re-deliver the file; none of its rows were loaded",
        )
    if "UTF8" in text or isinstance(exc, UnicodeDecodeError):
        return UnreadableFileError(
            f"{src.uri}: bytes do not decode with the chosen encoding ({text})",
            hint="declare the encoding with --encoding",
        )
    return UnreadableFileError(
        f"{src.uri}: cannot read file ({type(exc).__name__}: {text})",
        hint="check the file is complete; none of its rows were loaded",
    )
