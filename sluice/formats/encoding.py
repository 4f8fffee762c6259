"""Character encodings of text sources: decided once per file, checked on every byte.

The decision rule, in order:

1. **Declared.** A run's ``encoding`` parameter, else the contract's
   ``encoding:``, is used as given.
2. **Byte-order mark.** A UTF-8, UTF-16 or UTF-32 BOM decides the encoding
   (UTF-16/32 with the BOM's byte order).
3. **UTF-16 without a BOM** is told by its NUL bytes (every other byte of
   Latin text is zero): a guess, flagged as in rule 5.
4. **UTF-8 by evidence.** The first 256 KiB are read: if they are valid UTF-8,
   or if at least as many of their lines hold valid multi-byte UTF-8 as hold
   broken sequences, the file is UTF-8.
5. **A guessed legacy code page.** Otherwise charset-normalizer guesses from
   the sample (cp1252 wins any tie among single-byte Latin code pages). The
   guess is flagged: the file's outcome counts its rows under the warning
   ``encoding:guessed``. A file no guess fits is refused with a hint to
   declare its encoding.

A BOM is always stripped, whichever rule decided. Every byte of a UTF-8 file
is checked, not only the sample: a row with bytes that are not UTF-8 is
quarantined as ``undecodable_bytes`` with its raw bytes in base64, and the
rest of the file is read as UTF-8, never re-decoded as another code page.
The one exception is a file whose text was all ASCII before its first
non-UTF-8 byte (no evidence of UTF-8 at all): it is read again under a code
page guessed from the bytes around that one, which changes none of the text
before it, and the guess is flagged as above. Files in other encodings are
decoded whole; a byte the encoding does not define fails the file.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from sluice.errors import UnreadableFileError

SAMPLE_BYTES = 256 * 1024
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_BOM_FREE = {"utf-8-sig": "utf-8", "utf-16": "utf-16-le", "utf-32": "utf-32-le"}


@dataclass(frozen=True)
class EncodingChoice:
    """How one file is decoded.

    Attributes:
        name: canonical codec name, without BOM handling (``utf-8``, ``utf-16-le``, ``cp1252``).
        bom: bytes of byte-order mark to skip at the start of the file.
        guessed: the encoding is a guess from a sample, not declared, marked or evidenced.
        decided: declared or marked by a BOM: reading never re-decides it.
        via_latin1: UTF-8 read through Latin-1, so that a row Arrow cannot split into fields
            reaches Sluice byte for byte even when it is not UTF-8 (slower; see CsvReader).
    """

    name: str
    bom: int = 0
    guessed: bool = False
    decided: bool = False
    via_latin1: bool = False


def normalise_name(name: str) -> str:
    """Canonical codec name, e.g. 'LATIN1' -> 'iso8859-1'."""
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise UnreadableFileError(
            f"unknown encoding {name!r}", hint="use a Python codec name such as utf-8, latin-1 or utf-16"
        ) from None


def bom_encoding(sample: bytes) -> str | None:
    """The encoding a byte-order mark at the start of ``sample`` names, with its byte order."""
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return name
    return None


def _bom_length(sample: bytes, name: str) -> int:
    """Bytes of BOM at the start of ``sample`` for a file decoded as ``name``.

    A UTF-8 BOM before a single-byte code page is a BOM as well (the file was
    saved by a tool that adds one), not three characters of text.
    """
    marks = [bom for bom, bom_name in _BOMS if bom_name == name] or [codecs.BOM_UTF8]
    return next((len(bom) for bom in marks if sample.startswith(bom)), 0)


def is_utf8(sample: bytes) -> bool:
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the sample's end is not evidence.
        return exc.start >= len(sample) - 3 and exc.reason == "unexpected end of data"
    return True


def utf8_evidence(sample: bytes) -> tuple[int, int]:
    """(lines with valid multi-byte UTF-8, lines with broken sequences) in ``sample``.

    Lines, not characters, are counted: a line is what a broken sequence
    costs (its row is quarantined), and one Latin-1 row full of accents is
    still one row.
    """
    wide = broken = 0
    for line in sample.split(b"\n"):
        if not line.isascii():
            if first_bad_utf8(line) is None:
                wide += 1
            else:
                broken += 1
    return wide, broken


def choose_encoding(sample: bytes, *, declared: str | None, path: str) -> EncodingChoice:
    """Decide how to decode the file at ``path`` whose first bytes are ``sample`` (see the module's rule).

    Raises:
        UnreadableFileError: the declared encoding is unknown, or no encoding fits.
    """
    found = bom_encoding(sample)
    if declared is not None:
        name = normalise_name(declared)
        if name in _BOM_FREE:
            name = found if found and found.startswith(_BOM_FREE[name][:6]) else _BOM_FREE[name]
        return EncodingChoice(name, bom=_bom_length(sample, name), decided=True)
    if found:
        return EncodingChoice(found, bom=_bom_length(sample, found), decided=True)
    wide_ascii = _utf16_without_bom(sample)
    if wide_ascii:
        return EncodingChoice(wide_ascii, guessed=True)
    if is_utf8(sample):
        return EncodingChoice("utf-8")
    wide, broken = utf8_evidence(sample)
    if wide >= broken:
        return EncodingChoice("utf-8")
    return EncodingChoice(guess_legacy(sample, path=path), guessed=True)


def _utf16_without_bom(sample: bytes) -> str | None:
    """UTF-16 with no BOM, told by its NUL bytes: every other byte of Latin text is zero."""
    head = sample[:4096]
    half = len(head) // 2
    if half < 8:
        return None
    even, odd = head[0::2].count(0), head[1::2].count(0)
    if odd > 0.4 * half and even < 0.05 * half:
        return "utf-16-le"
    if even > 0.4 * half and odd < 0.05 * half:
        return "utf-16-be"
    return None


def guess_legacy(sample: bytes, *, path: str) -> str:
    """charset-normalizer's guess for bytes that are not UTF-8; cp1252 wins a tie among Latin code pages."""
    from charset_normalizer import from_bytes  # only files that are not UTF-8 need it

    best = from_bytes(sample).best()
    if best is not None and _western_tie(sample, best.encoding):
        return "cp1252"
    if best is None or best.encoding is None:
        raise UnreadableFileError(
            f"{path}: cannot tell the character encoding (not UTF-8 and no confident guess)",
            hint="declare it with --encoding or the contract's encoding: (e.g. latin-1, cp1252, utf-16)",
        )
    return normalise_name(best.encoding)


def detect_encoding(sample: bytes, *, path: str) -> str:
    """The codec name :func:`choose_encoding` picks for an undeclared file starting with ``sample``."""
    return choose_encoding(sample, declared=None, path=path).name


_SINGLE_BYTE_LATIN = ("cp125", "iso8859", "latin", "mac_", "cp775", "cp85", "cp437")


def _western_tie(sample: bytes, guess: str | None) -> bool:
    """Single-byte Latin code pages often tie on short samples; prefer cp1252 then.

    Sources in a Central European or Baltic code page should declare it.
    """
    if guess is None or not guess.startswith(_SINGLE_BYTE_LATIN):
        return False
    try:
        sample.decode("cp1252")
    except UnicodeDecodeError:
        return False
    return True


def first_bad_utf8(data: bytes) -> int | None:
    """Offset of the first byte that is not valid UTF-8, or None."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start
    return None


def has_non_ascii(values: pa.Array) -> bool:
    """Whether any value of a binary or string array holds a byte above 0x7f (vectorised, no copy)."""
    if len(values) == 0 or values.null_count == len(values):
        return False
    _, offsets, data = values.buffers()[:3]
    width = np.int64 if pa.types.is_large_binary(values.type) or pa.types.is_large_string(values.type) else np.int32
    ends = np.frombuffer(offsets, dtype=width, count=len(values) + 1, offset=values.offset * np.dtype(width).itemsize)
    used = np.frombuffer(data, dtype=np.uint8)[int(ends[0]) : int(ends[-1])] if data is not None else np.zeros(0)
    return bool(used.size) and int(used.max()) > 0x7F


def _valid_utf8(values: pa.Array) -> bool:
    try:
        values.view(pa.large_string() if pa.types.is_large_binary(values.type) else pa.string()).validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def bad_utf8_positions(values: pa.Array) -> np.ndarray:
    """Positions of the values of a binary array that are not valid UTF-8, in order.

    Halves the array until the invalid values are isolated, so a column with a
    few broken values costs a few validations of shrinking slices, not a
    Python loop over every value.
    """
    found: list[int] = []
    pending = [(0, len(values))]
    while pending:
        lo, hi = pending.pop()
        part = values.slice(lo, hi - lo)
        if _valid_utf8(part):
            continue
        if hi - lo <= 512:  # a Python loop over a few hundred values costs about one validation
            found += [lo + i for i, v in enumerate(part.to_pylist()) if v is not None and first_bad_utf8(v) is not None]
            continue
        mid = (lo + hi) // 2
        pending += [(mid, hi), (lo, mid)]
    return np.asarray(sorted(found), dtype=np.int64)
