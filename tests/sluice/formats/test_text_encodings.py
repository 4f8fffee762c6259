"""Encodings decided on the whole file: broken bytes are quarantined with their raw bytes, never re-decoded."""

from __future__ import annotations

import base64
import codecs
from datetime import date
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable

from sluice.formats.encoding import SAMPLE_BYTES
from sluice.ingest import (
    ENCODING_GUESSED,
    StageRequest,
    commit_files,
    commit_target,
    stage_file,
)
from sluice.runs.records import FileOutcome
from sluice.settings import Settings
from sluice.sources.files import list_source_files
from sluice.validate.contracts import Contract, find_contract
from tests.factories import ORDER_HEADER, good_orders


def _orders() -> Contract:
    return find_contract("orders", Settings().contracts_root())


def _lines(n: int, *, email: str = "jürgen.{i}@example.com", start: int = 1) -> list[str]:
    rows = good_orders(n, start=start)
    for r in rows:
        r.email = email.format(i=r.order_id)
    return [",".join(r.cells()) for r in rows]


def _write(path: Path, head: bytes, body: list[bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(head + ",".join(ORDER_HEADER).encode() + b"\n" + b"\n".join(body) + b"\n")
    return path


def _ingest(
    tmp_path: Path, *, contract: Contract | None = None, encoding: str | None = None
) -> tuple[FileOutcome, pa.Table, pa.Table]:
    req = StageRequest(
        dataset="orders",
        contract=contract or _orders(),
        run_id="t",
        run_dir=str(tmp_path / "stg"),
        lake_uri=str(tmp_path / "lake"),
        ingest_date=date(2024, 11, 1),
        encoding=encoding,
        chunk_rows=2_000,
    )
    out = stage_file(list_source_files(str(tmp_path / "src"))[0], 0, req)
    result = commit_files(commit_target(req, str(tmp_path / "q")), [out], metadata={}).lake
    lake = DeltaTable(str(tmp_path / "lake")).to_pyarrow_table() if result.rows_written else pa.table({})
    q = DeltaTable(str(tmp_path / "q")).to_pyarrow_table() if out.rows_quarantined else pa.table({})
    return out, lake, q


def _raw(entry: dict) -> bytes:
    return base64.b64decode(dict(entry["record"])["_raw"])


def test_a_late_latin1_row_in_a_utf8_file_is_quarantined_and_the_rest_stays_right(tmp_path):
    good = [line.encode() for line in _lines(5_000)]
    assert sum(map(len, good)) > SAMPLE_BYTES
    bad = _lines(1, start=9_001, email="j\xfcrgen@example.com")[0].encode("latin-1")
    _write(tmp_path / "src" / "late.csv", b"", [*good, bad])

    out, lake, q = _ingest(tmp_path)

    assert (out.status.value, out.encoding, out.rows_read, out.rows_valid) == ("committed", "utf-8", 5_001, 5_000)
    emails = lake.column("email").to_pylist()
    assert len(emails) == 5_000 and all(e.startswith("jürgen.") for e in emails)
    entry = q.to_pylist()[0]
    assert (q.num_rows, entry["reason"], entry["source_row"]) == (1, "undecodable_bytes", 5_002)
    assert b"j\xfcrgen@example.com" in _raw(entry) and _raw(entry).startswith(b"9001,")
    assert "column 'email'" in entry["value"] and ENCODING_GUESSED not in out.warnings


def test_invalid_utf8_in_a_utf8_file_is_quarantined_not_read_as_cp1252(tmp_path):
    good = [line.encode() for line in _lines(300)]
    broken = _lines(1, start=7_000, email="x@example.com")[0].encode().replace(b"x@", b"\xc3\x28\xa0\xa1@")
    _write(tmp_path / "src" / "broken.csv", b"", [*good[:10], broken, *good[10:]])

    out, lake, q = _ingest(tmp_path)

    assert (out.encoding, out.rows_valid, out.rows_quarantined) == ("utf-8", 300, 1)
    assert all(e.startswith("jürgen.") for e in lake.column("email").to_pylist())
    entry = q.to_pylist()[0]
    assert (entry["reason"], entry["source_row"]) == ("undecodable_bytes", 12)
    assert b"\xc3\x28\xa0\xa1@example.com" in _raw(entry)


def test_invalid_utf8_in_an_ascii_file_is_a_flagged_guess_never_silent(tmp_path):
    good = [line.encode() for line in _lines(300, email="ann.{i}@example.com")]
    broken = _lines(1, start=7_000, email="x@example.com")[0].encode().replace(b"x@", b"\xc3\x28\xa0\xa1@")
    _write(tmp_path / "src" / "odd.csv", b"", [*good, broken])

    out, _lake, _q = _ingest(tmp_path)

    assert (out.status.value, out.encoding, out.warnings.get(ENCODING_GUESSED)) == ("committed", "cp1252", 301)


def test_a_latin1_file_whose_first_256k_are_ascii_is_read_again_under_a_flagged_guess(tmp_path):
    good = [line.encode() for line in _lines(5_000, email="ann.{i}@example.com")]
    latin = [line.encode("latin-1") for line in _lines(20, start=8_000, email="müller.{i}@exämple.com")]
    _write(tmp_path / "src" / "latin.csv", b"", [*good, *latin])

    out, lake, _q = _ingest(tmp_path)

    assert (out.encoding, out.rows_valid, out.warnings[ENCODING_GUESSED]) == ("cp1252", 5_020, 5_020)
    assert "müller.8000@exämple.com" in lake.column("email").to_pylist()


def test_a_bom_with_a_late_latin1_byte_keeps_the_header_right(tmp_path):
    good = [line.encode() for line in _lines(5_000)]
    bad = _lines(1, start=9_001, email="j\xfcrgen@example.com")[0].encode("latin-1")
    _write(tmp_path / "src" / "bom.csv", codecs.BOM_UTF8, [*good, bad])

    out, lake, q = _ingest(tmp_path)

    assert out.missing_columns == [] and out.extra_columns == []
    assert (out.rows_valid, out.rows_quarantined, lake.num_rows) == (5_000, 1, 5_000)
    assert q.column("reason").to_pylist() == ["undecodable_bytes"]


def test_the_run_parameter_wins_over_the_contract_encoding_and_the_bom_is_stripped_either_way(tmp_path):
    text = "\n".join([",".join(ORDER_HEADER), *_lines(3, email="zoë.{i}@example.com")]) + "\n"
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "x.csv").write_bytes(codecs.BOM_UTF8 + text.encode("utf-8"))
    contract = _orders().model_copy(update={"encoding": "cp1252"})

    by_contract, lake_c, _ = _ingest_in(tmp_path, "c", contract, None)
    by_param, lake_p, _ = _ingest_in(tmp_path, "p", contract, "utf-8")

    assert (by_contract.encoding, by_contract.missing_columns, by_contract.rows_valid) == ("cp1252", [], 3)
    assert "zoÃ«.1@example.com" in lake_c.column("email").to_pylist()  # what was declared, exactly
    assert ENCODING_GUESSED not in by_contract.warnings
    assert (by_param.encoding, by_param.missing_columns, by_param.rows_valid) == ("utf-8", [], 3)
    assert "zoë.1@example.com" in lake_p.column("email").to_pylist()


def _ingest_in(tmp_path: Path, name: str, contract: Contract, encoding: str | None):
    run = tmp_path / name
    (run / "src").mkdir(parents=True)
    (run / "src" / "x.csv").write_bytes((tmp_path / "src" / "x.csv").read_bytes())
    return _ingest(run, contract=contract, encoding=encoding)


def test_a_declared_utf16_file_with_its_bom_reads_cleanly(tmp_path):
    text = "\n".join([",".join(ORDER_HEADER), *_lines(4)]) + "\n"
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "x.csv").write_bytes(text.encode("utf-16"))

    out, lake, _ = _ingest(tmp_path, encoding="utf-16")

    assert (out.encoding, out.missing_columns, out.rows_valid) == ("utf-16-le", [], 4)
    assert lake.column("email").to_pylist()[0].startswith("jürgen.")


def test_a_row_with_too_few_fields_and_bytes_that_are_not_utf8_is_quarantined_with_its_bytes(tmp_path):
    good = [line.encode() for line in _lines(40)]
    _write(tmp_path / "src" / "short.csv", b"", [*good[:5], b"77,M\xfcller", *good[5:]])

    out, lake, q = _ingest(tmp_path)

    assert (out.status.value, out.rows_valid, out.rows_quarantined) == ("committed", 40, 1)
    assert all(e.startswith("jürgen.") for e in lake.column("email").to_pylist())
    entry = q.to_pylist()[0]
    assert (entry["reason"], entry["source_row"], _raw(entry)) == ("undecodable_bytes", 7, b"77,M\xfcller")
    assert entry["value"].startswith("expected 12 fields, found 2")


def test_json_lines_with_a_utf16_bom_read_cleanly_and_a_latin1_guess_is_flagged(tmp_path):
    from sluice.formats import open_reader

    text = '{"a": "zoë"}\n{"a": "müller"}\n'
    (tmp_path / "bom.jsonl").write_bytes(text.encode("utf-16"))
    (tmp_path / "latin.jsonl").write_bytes(text.encode("latin-1"))
    read = {}
    for name in ("bom", "latin"):
        reader = open_reader(list_source_files(str(tmp_path), f"{name}.jsonl")[0], ["a"], encoding=None, chunk_rows=10)
        chunks = list(reader.chunks())
        read[name] = (
            [v for c in chunks for v in c.table.column("a").to_pylist()],
            reader.layout.guessed,
            [m.line for c in chunks for m in c.malformed],
        )
    assert read["bom"] == (["zoë", "müller"], False, [])
    assert read["latin"] == (["zoë", "müller"], True, [])
