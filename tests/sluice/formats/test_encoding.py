"""Encoding detection: BOMs, strict UTF-8, then a confident guess, else a clear refusal."""

from __future__ import annotations

import codecs

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sluice.errors import UnreadableFileError
from sluice.formats.encoding import detect_encoding, is_utf8


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


def test_lines_that_are_not_utf8_are_blanked_and_reported_with_their_bytes_and_line_numbers():
    import base64

    from sluice.formats.base import blank_undecodable_lines

    block = '{"a": "ü"}\n{"a": "x\xfc"}\n{"a": 1}\n'.encode().replace(b"x\xc3\xbc", b"x\xfc")
    clean, bad = blank_undecodable_lines(block, 10)
    assert clean == '{"a": "ü"}\n\n{"a": 1}\n'.encode()
    assert [(m.line, m.reason.value, base64.b64decode(m.text)) for m in bad] == [
        (11, "undecodable_bytes", b'{"a": "x\xfc"}')
    ]
    assert blank_undecodable_lines(b'{"a": 1}\n', 1) == (b'{"a": 1}\n', [])


def test_a_mostly_utf8_sample_is_utf8_and_a_legacy_one_is_a_flagged_guess():
    from sluice.formats.encoding import choose_encoding

    mostly = ("name\n" + "Jürgen Öztürk\n" * 20).encode() + b"M\xfcller\n"
    legacy = ("name\n" + "Jürgen Öztürk\n" * 20).encode("latin-1")
    assert choose_encoding(mostly, declared=None, path="x").name == "utf-8"
    guess = choose_encoding(legacy, declared=None, path="x")
    assert guess.guessed and guess.name == "cp1252"
    assert choose_encoding(b"\xef\xbb\xbfname\n", declared="cp1252", path="x").bom == 3
    one_bad_row = "name\nJürgen\nZoë\n".encode() + "Françoise Ødegård-Müller\n".encode("latin-1")
    assert choose_encoding(one_bad_row, declared=None, path="x").name == "utf-8"  # lines, not characters


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.one_of(st.none(), st.binary(max_size=6), st.text(max_size=4).map(str.encode)), max_size=400),
    offset=st.integers(0, 5),
)
def test_bad_utf8_positions_finds_exactly_the_values_that_do_not_decode(values, offset):
    import pyarrow as pa

    from sluice.formats.encoding import (
        bad_utf8_positions,
        first_bad_utf8,
        has_non_ascii,
    )

    column = pa.array([b"pad"] * offset + values, pa.binary()).slice(offset)
    expected = [i for i, v in enumerate(values) if v is not None and first_bad_utf8(v) is not None]
    assert bad_utf8_positions(column).tolist() == expected
    assert has_non_ascii(column) == any(v is not None and not v.isascii() for v in values)


def test_utf16_without_a_bom_is_a_flagged_guess_from_its_nul_bytes():
    from sluice.formats.encoding import choose_encoding

    text = "order_id,email\n" + "".join(f"{i},zoë.{i}@example.com\n" for i in range(30))
    for codec in ("utf-16-le", "utf-16-be"):
        choice = choose_encoding(text.encode(codec), declared=None, path="x")
        assert (choice.name, choice.guessed, choice.bom) == (codec, True, 0)
    assert not choose_encoding(text.encode(), declared=None, path="x").guessed
