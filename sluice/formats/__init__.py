"""Readers that turn one source file into raw Arrow chunks, one module per format.

CSV and JSON Lines columns are read as text; typing happens in
:mod:`sluice.validate.coerce`, where each failure is recorded. Parquet keeps the
file's own types, cast later by the same module.
"""

from __future__ import annotations

import codecs
from typing import Any

from sluice.errors import UnreadableFileError
from sluice.formats.base import (
    FileLayout,
    MalformedRow,
    NeedsReencode,
    RawChunk,
    open_source,
    unreadable,
)
from sluice.formats.delimited import CsvReader
from sluice.formats.encoding import EncodingChoice, guess_legacy
from sluice.formats.jsonl import JsonLinesReader
from sluice.formats.nested import ColumnPaths
from sluice.formats.parquet import ParquetReader
from sluice.sources.files import FileFormat, SourceFile
from sluice.validate.contracts import CsvDialect

__all__ = [
    "ColumnPaths",
    "CsvReader",
    "EncodingChoice",
    "FileLayout",
    "JsonLinesReader",
    "MalformedRow",
    "NeedsReencode",
    "ParquetReader",
    "RawChunk",
    "Reader",
    "open_reader",
    "redetect_encoding",
]

Reader = CsvReader | JsonLinesReader | ParquetReader


def open_reader(
    src: SourceFile,
    wanted: list[str],
    *,
    encoding: str | EncodingChoice | None,
    chunk_rows: int,
    storage_options: dict[str, Any] | None = None,
    dialect: CsvDialect | None = None,
    paths: ColumnPaths | None = None,
) -> Reader:
    """The reader for ``src``'s format.

    Args:
        encoding: a declared codec name, a choice already made, or None to decide from the file.
        dialect: how CSV fields are split (the contract's ``csv:`` block); other formats ignore it.
        paths: where JSON Lines values sit in nested records, and which columns are lists
            (default: each wanted name a top-level key of text); other formats ignore it.
    """
    try:
        if src.format is FileFormat.CSV:
            return CsvReader(
                src, wanted, encoding=encoding, chunk_rows=chunk_rows, storage_options=storage_options, dialect=dialect
            )
        if src.format is FileFormat.JSONL:
            return JsonLinesReader(
                src, wanted, encoding=encoding, chunk_rows=chunk_rows, storage_options=storage_options, paths=paths
            )
        return ParquetReader(src, wanted, encoding=encoding, chunk_rows=chunk_rows, storage_options=storage_options)
    except (OSError, EOFError) as exc:
        raise unreadable(src, exc) from None


def redetect_encoding(src: SourceFile, storage_options: dict[str, Any] | None) -> EncodingChoice:
    """A flagged guess of a legacy code page from the bytes around the first that are not UTF-8.

    For a file whose text is all ASCII before those bytes (see :mod:`sluice.formats.encoding`).

    Raises:
        UnreadableFileError: no guess fits, or the guess is UTF-8 after all.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open_source(src, storage_options) as handle:
        while block := handle.read(4 * 1024 * 1024):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                window = block[max(0, exc.start - 32 * 1024) : exc.start + 32 * 1024]
                guess = guess_legacy(window, path=src.uri)
                if guess != "utf-8":
                    return EncodingChoice(guess, guessed=True)
                break
    raise UnreadableFileError(
        f"{src.uri}: bytes that are not UTF-8 follow ASCII text, and no code page fits them",
        hint="declare the encoding with --encoding or the contract's encoding:",
    )
