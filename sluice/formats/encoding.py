"""Character-encoding detection for text sources.

Order of evidence: a declared encoding wins; then a byte-order mark (UTF-8,
UTF-16, UTF-32); then strict UTF-8 on a sample; then charset-normalizer's
best guess, where cp1252 wins any tie among single-byte Latin code pages.
A file that fits none is refused with a hint to declare one.
"""

from __future__ import annotations

import codecs

from sluice.errors import UnreadableFileError

SAMPLE_BYTES = 256 * 1024
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def normalise_name(name: str) -> str:
    """Canonical codec name, e.g. 'LATIN1' -> 'iso8859-1'."""
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise UnreadableFileError(
            f"unknown encoding {name!r}", hint="use a Python codec name such as utf-8, latin-1 or utf-16"
        ) from None


def bom_encoding(sample: bytes) -> str | None:
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return name
    return None


def is_utf8(sample: bytes) -> bool:
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the sample's end is not evidence.
        return exc.start >= len(sample) - 3 and exc.reason == "unexpected end of data"
    return True


def detect_encoding(sample: bytes, *, path: str) -> str:
    """Guess the encoding of ``sample`` (the start of the file at ``path``)."""
    found = bom_encoding(sample)
    if found:
        return found
    if is_utf8(sample):
        return "utf-8"
    from charset_normalizer import from_bytes  # only files that are not UTF-8 need it

    best = from_bytes(sample).best()
    if best is not None and _western_tie(sample, best.encoding):
        return "cp1252"
    if best is None or best.encoding is None:
        raise UnreadableFileError(
            f"{path}: cannot tell the character encoding (not UTF-8 and no confident guess)",
            hint="declare it with --encoding (e.g. latin-1, cp1252, utf-16)",
        )
    return normalise_name(best.encoding)


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
