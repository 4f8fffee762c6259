"""CSV dialects come from the contract; a header that cannot work fails the file saying what is wrong."""

from __future__ import annotations

import base64
import codecs
from pathlib import Path

import pytest

from sluice.errors import ContractError, UnreadableFileError
from sluice.formats import open_reader
from sluice.formats.delimited import CSV_BLOCK
from sluice.sources.files import list_source_files
from sluice.validate.contracts import CsvDialect, parse_contract


def _chunks(path: Path, wanted: list[str], dialect: CsvDialect | None = None, encoding: str | None = None):
    src = list_source_files(str(path.parent), path.name)[0]
    reader = open_reader(src, wanted, encoding=encoding, chunk_rows=1_000, dialect=dialect)
    return reader, list(reader.chunks())


def _values(chunks, column: str) -> list[str | None]:
    return [v for c in chunks for v in c.table.column(column).to_pylist()]


def test_a_semicolon_dialect_with_quotes_and_escapes_reads_each_field(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a;b;c\n1;'x;y';'it''s'\n2;z\\;w;'q'\n")

    _, chunks = _chunks(path, ["a", "b", "c"], CsvDialect(delimiter=";", quote_char="'", escape_char="\\"))

    assert _values(chunks, "b") == ["x;y", "z;w"]
    assert _values(chunks, "c") == ["it's", "q"]


def test_without_a_quote_character_quotes_are_data(tmp_path):
    path = tmp_path / "x.tsv.csv"
    path.write_text('a\tb\n"1\t2"\n')

    _, chunks = _chunks(path, ["a", "b"], CsvDialect(delimiter="\t", quote_char=None))

    assert (_values(chunks, "a"), _values(chunks, "b")) == (['"1'], ['2"'])


def test_a_semicolon_file_read_as_comma_says_what_it_looks_like(tmp_path):
    path = tmp_path / "x.csv"
    header = ";".join(f"c{i}" for i in range(12))
    path.write_text(header + "\n" + ";".join("1" * 12) + "\n")

    with pytest.raises(UnreadableFileError) as info:
        _chunks(path, ["c0", "c1"])

    message = str(info.value)
    assert "the header has 1 field and contains ';' 11 times: the file looks ';'-delimited" in message
    assert "set `csv: {delimiter: ';'}` in the contract" in message and "x.csv" in message


def test_a_tab_file_with_some_commas_in_its_names_is_still_recognised(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("order id,x\tstatus\tamount\n1\tpaid\t2\n")

    with pytest.raises(UnreadableFileError, match=r"looks '\\t'-delimited"):
        _chunks(path, ["status", "amount"])


def test_a_one_column_file_without_other_delimiters_is_read_with_its_columns_missing(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("something\n1\n2\n\n")

    reader, chunks = _chunks(path, ["a", "b"])

    assert reader.layout.missing == ["a", "b"] and sum(c.table.num_rows for c in chunks) == 2
    assert [r for c in chunks for r in c.rows.tolist()] == [2, 3]


def test_a_contract_column_twice_in_the_header_fails_the_file_naming_both_fields(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b,c,status,d,e,f,g,status\n" + ",".join("123456789") + "\n")

    with pytest.raises(UnreadableFileError, match=r"column 'status' appears twice in the header \(fields 4 and 9\)"):
        _chunks(path, ["a", "status"])


def test_a_duplicate_column_the_contract_does_not_read_is_only_extra(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,note,note,,\n1,x,y,,\n")

    reader, chunks = _chunks(path, ["a"])

    assert _values(chunks, "a") == ["1"] and reader.layout.extra == ["note", ""]


def test_header_names_with_spaces_and_a_bom_match_the_contract(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(codecs.BOM_UTF8 + b" a , b\n1,2\n")

    _, chunks = _chunks(path, ["a", "b"])

    assert (_values(chunks, "a"), _values(chunks, "b")) == (["1"], ["2"])


def test_a_record_larger_than_a_block_fails_with_a_clear_reason(tmp_path):
    path = tmp_path / "x.csv"
    rows = b"1,2\n" * (CSV_BLOCK // 4 + 10)
    path.write_bytes(b"a,b\n" + rows + b'3,"' + b"x" * (3 * CSV_BLOCK) + b'"\n4,5\n')

    with pytest.raises(UnreadableFileError, match="a record runs past 8 MiB"):
        _chunks(path, ["a", "b"])


def test_quoted_line_breaks_are_read_when_the_contract_allows_them(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b'a,b\n1,"two\nlines"\n3,4\n')

    _, chunks = _chunks(path, ["a", "b"], CsvDialect(newlines_in_values=True))

    assert _values(chunks, "b") == ["two\nlines", "4"]


def test_undecodable_rows_keep_their_line_numbers_and_raw_bytes(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes("a;b\nü;1\n\xfc;'2;3'\nü;4\n".encode().replace(b"\xc3\xbc;'", b"\xfc;'"))

    _, chunks = _chunks(path, ["a", "b"], CsvDialect(delimiter=";", quote_char="'"))

    (bad,) = [m for c in chunks for m in c.malformed]
    assert (bad.line, bad.reason.value) == (3, "undecodable_bytes")
    assert base64.b64decode(bad.text) == b"\xfc;'2;3'"
    assert [r for c in chunks for r in c.rows.tolist()] == [2, 4] and _values(chunks, "a") == ["ü", "ü"]


@pytest.mark.parametrize(
    ("block", "problem"),
    [
        ("delimiter: ';;'", "csv.delimiter must be one character"),
        ("delimiter: ','\n  quote_char: ','", "must differ"),
        ("delimter: ';'", "unknown field 'delimter' (did you mean 'delimiter'?)"),
    ],
)
def test_a_bad_csv_block_in_a_contract_is_refused_with_its_location(block, problem):
    text = f"""
name: t
owner: me
freshness_sla: 1d
primary_key: [id]
partition: {{column: ts}}
columns:
  - {{name: id, type: int64}}
  - {{name: ts, type: timestamp}}
csv:
  {block}
"""
    with pytest.raises(ContractError) as info:
        parse_contract(text)
    assert problem in str(info.value) and "csv" in str(info.value)


def test_a_contract_names_its_encoding_and_an_unknown_one_is_refused():
    base = """
name: t
owner: me
freshness_sla: 1d
primary_key: [id]
partition: {column: ts}
columns:
  - {name: id, type: int64}
  - {name: ts, type: timestamp}
"""
    assert parse_contract(base + "encoding: latin-1\ncsv: {delimiter: '|'}\n").csv.delimiter == "|"
    with pytest.raises(ContractError, match="unknown encoding 'klingon-8'"):
        parse_contract(base + "encoding: klingon-8\n")
