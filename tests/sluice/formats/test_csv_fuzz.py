"""Hostile CSV bytes end in a clear error, quarantine entries with reasons, or data the file really holds."""

from __future__ import annotations

import base64
import codecs
import tempfile
from datetime import date
from pathlib import Path
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.errors import ContractError, UnreadableFileError
from sluice.formats import NeedsReencode, delimited, open_reader, redetect_encoding
from sluice.sources.files import list_source_files
from sluice.validate.chunk import BatchContext, validate_chunk
from sluice.validate.contracts import CsvDialect, parse_contract
from sluice.validate.quality import Reason

CONTRACT = parse_contract("""
name: fuzz
owner: me
freshness_sla: 1d
primary_key: [id]
partition: {column: ts}
columns:
  - {name: id, type: string}
  - {name: ts, type: timestamp}
  - {name: name, type: string, nullable: true}
""")
WANTED = CONTRACT.column_names
NAMES = st.sampled_from([*WANTED, "extra", "", " id ", "nåme", "id"])
ENCODINGS = ["utf-8", "latin-1", "cp1252", "utf-16-le", "utf-16"]


def _broken_utf8(text: str) -> bytes:
    data = text.encode("utf-8")
    return data[:-1] if len(data) > 1 and data[-1] >= 0x80 else data + b"\xc3"


FIELDS = st.one_of(
    st.text(max_size=12).map(str.encode),
    st.sampled_from(["2024-03-05T10:00:00Z", "x", "", "müller", "né", "ü" * 3]).map(str.encode),
    st.text(min_size=1, max_size=6).map(_broken_utf8),  # a multi-byte sequence cut short
    st.text(alphabet="äöüéñ", max_size=6).map(lambda t: t.encode("latin-1")),
    st.binary(max_size=12),
    st.just(b"\x00"),
    st.integers(5_000, 9_000).map(lambda n: b"y" * n),  # longer than the patched block
    st.sampled_from([b'"', b'"open', b"'", b"\\", b"\r", b"\n"]),
)


@st.composite
def csv_files(draw: st.DrawFn) -> tuple[bytes, CsvDialect, str | None]:
    dialect = CsvDialect(
        delimiter=draw(st.sampled_from([",", ";", "\t", "|"])),
        quote_char=draw(st.sampled_from(['"', "'", None])),
        escape_char=draw(st.sampled_from([None, "\\"])),
        double_quote=draw(st.booleans()),
    )
    file_delim = draw(st.sampled_from([dialect.delimiter, dialect.delimiter, ",", ";"])).encode()
    header = file_delim.join(n.encode() for n in draw(st.lists(NAMES, min_size=1, max_size=5)))
    rows = draw(st.lists(st.lists(FIELDS, max_size=5).map(file_delim.join), max_size=30))
    newline = draw(st.sampled_from([b"\n", b"\r\n"]))
    body = newline.join([header, *rows]) + draw(st.sampled_from([b"", newline]))
    encoding = draw(st.sampled_from(ENCODINGS))
    if encoding.startswith("utf-16"):
        body = body.decode("latin-1").encode(encoding)
    bom = draw(st.sampled_from([b"", b"", codecs.BOM_UTF8, codecs.BOM_UTF16_LE]))
    data = draw(st.one_of(st.just(bom + body), st.binary(max_size=300)))
    declared = draw(st.sampled_from([None, None, *ENCODINGS, "utf-8-sig"]))
    return data, dialect, declared


def _check_chunks(data: bytes, encoding: str, dialect: CsvDialect, chunks: list) -> None:
    lines: list[int] = []
    quarantined: list[int] = []
    for chunk in chunks:
        lines += chunk.rows.tolist()
        for m in chunk.malformed:
            assert m.reason in (Reason.MALFORMED_ROW, Reason.UNDECODABLE_BYTES) and m.line >= 2
            if m.reason is Reason.UNDECODABLE_BYTES:
                assert base64.b64decode(m.text, validate=True)
            quarantined.append(m.line)
        special = [c for c in (dialect.quote_char, dialect.escape_char) if c]
        for column in chunk.table.columns:
            for value in column.to_pylist():
                if value is not None and encoding == "utf-8" and not any(c in value for c in special):
                    assert value.encode("utf-8") in data, "a value that is not in the file's bytes"
        result = validate_chunk(chunk, CONTRACT, BatchContext("fuzz", "r", "b", "f.csv", date(2024, 1, 1)))
        assert set(result.quarantine.column("reason").to_pylist()) <= {r.value for r in Reason}
        assert result.rows_read == result.valid.num_rows + result.quarantine.num_rows
    assert lines == sorted(set(lines)) and not set(lines) & set(quarantined)


def _read_as_stage_file_does(src, declared: str | None, dialect: CsvDialect):
    encoding = declared
    for _attempt in range(3):
        try:
            reader = open_reader(src, WANTED, encoding=encoding, chunk_rows=7, dialect=dialect)
            return reader, list(reader.chunks())
        except NeedsReencode as again:
            encoding = again.choice or redetect_encoding(src, None)
    raise AssertionError("the encoding changed on every reading")


@pytest.mark.timeout(300)
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=csv_files())
def test_any_bytes_end_in_a_clear_error_quarantine_entries_or_the_files_own_data(case):
    data, dialect, declared = case
    with tempfile.TemporaryDirectory() as tmp, patch.object(delimited, "CSV_BLOCK", 4096):
        (Path(tmp) / "f.csv").write_bytes(data)
        src = list_source_files(tmp)[0]
        try:
            reader, chunks = _read_as_stage_file_does(src, declared, dialect)
        except (UnreadableFileError, ContractError) as exc:
            assert str(exc).strip() and exc.hint
            return
        _check_chunks(data, reader.layout.encoding, dialect, chunks)
