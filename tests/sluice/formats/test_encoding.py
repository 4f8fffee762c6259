"""Encoding detection: BOMs, strict UTF-8, then a confident guess, else a clear refusal."""

from __future__ import annotations

import codecs

import pytest

from sluice.formats.encoding import detect_encoding, is_utf8
from sluice.errors import UnreadableFileError


def test_boms_decide_the_encoding():
    assert detect_encoding(codecs.BOM_UTF8 + b"a,b\n", path="x") == "utf-8"
    assert detect_encoding("a,b\n".encode("utf-16"), path="x") == "utf-16-le"
    assert detect_encoding(codecs.BOM_UTF16_BE + "a,b\n".encode("utf-16-be"), path="x") == "utf-16-be"


def test_plain_utf8_is_utf8_even_when_a_character_is_cut_at_the_sample_end():
    sample = "name\nJosé Müller\n".encode() + "é".encode()[:1]
    assert is_utf8(sample)
    assert detect_encoding(sample, path="x") == "utf-8"


def test_latin1_text_is_recognised_as_a_single_byte_western_encoding():
    text = "name,city\n" + "José Müller,Köln\nFrançois Ægir,Zürich\n" * 50
    assert detect_encoding(text.encode("latin-1"), path="x") in {"cp1252", "iso8859-1", "latin-1", "iso8859-15"}


def test_unknown_declared_encoding_is_refused_with_a_hint():
    from sluice.formats.encoding import normalise_name

    with pytest.raises(UnreadableFileError, match="unknown encoding"):
        normalise_name("klingon-8")
