"""JSON Lines: values arrive as the text the file holds; one hostile line only hurts itself."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.errors import UnreadableFileError
from sluice.formats import open_reader
from sluice.formats.json_bytes import rewrite, scan
from sluice.settings import RecordLimits
from sluice.sources.files import list_source_files

ROOT = Path(__file__).resolve().parents[3]


def _read(path: Path, wanted: list[str], limits: RecordLimits | None = None):
    src = list_source_files(str(path.parent), path.name)[0]
    reader = open_reader(src, wanted, encoding=None, chunk_rows=1000)
    if limits:
        reader.limits = limits
    chunks = list(reader.chunks())
    table = pa.concat_tables([c.table for c in chunks]) if chunks else pa.table({})
    rows = [r for c in chunks for r in c.rows.tolist()]
    bad = [(m.line, m.reason.value) for c in chunks for m in c.malformed]
    return table, rows, bad, reader


def test_every_top_level_scalar_is_its_literal_text_and_a_nested_value_is_never_text(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text(
        '{"a": 1.50, "b": "2024-01-01", "c": true, "d": {"x": [1, "q\\""]}, "e": null, "f": -0e+5}\n'
        '{"a": 12345678901234567890123, "b": "2024-10-01T03:39:15Z", "c": false, "d": [ ], "f": 1E2}\n'
        '{"a": 1, "d": "{\\"x\\": 1}"}\n'
    )
    src = list_source_files(str(tmp_path), "x.jsonl")[0]
    (chunk,) = open_reader(src, list("abcdef"), encoding=None, chunk_rows=1000).chunks()
    assert chunk.table.to_pylist() == [
        {"a": "1.50", "b": "2024-01-01", "c": "true", "d": None, "e": None, "f": "-0e+5"},
        {"a": "12345678901234567890123", "b": "2024-10-01T03:39:15Z", "c": "false", "d": None, "e": None, "f": "1E2"},
        {"a": "1", "b": None, "c": None, "d": '{"x": 1}', "e": None, "f": None},
    ]
    refused = chunk.failures.table().select(["row", "column", "reason", "check", "value"]).to_pylist()
    assert refused == [
        {
            "row": 0,
            "column": "d",
            "reason": "wrong_shape",
            "check": "shape: scalar, found object",
            "value": '{"x": [1, "q\\""]}',
        },
        {"row": 1, "column": "d", "reason": "wrong_shape", "check": "shape: scalar, found array", "value": "[ ]"},
    ]
    assert (chunk.rows.tolist(), chunk.malformed) == ([1, 2, 3], [])


def test_a_block_with_a_bad_line_reads_the_others_exactly_as_a_clean_block(tmp_path):
    lines = [
        json.dumps({"a": i * 1.25, "b": f"2024-10-01T0{i % 10}:00:00+01:00", "n": {"k": [i, None]}}) for i in range(50)
    ]
    (tmp_path / "clean.jsonl").write_text("\n".join(lines) + "\n")
    dirty = [*lines[:20], '{"a": 1, "b": ', "   ", '{"a": tru}', "[1, 2]", '{"a": 1}{"a": 2}', *lines[20:]]
    (tmp_path / "dirty.jsonl").write_text("\r\n".join(dirty) + "\r\n")
    clean, clean_rows, _, _ = _read(tmp_path / "clean.jsonl", ["a", "b", "n"])
    got, rows, bad, _ = _read(tmp_path / "dirty.jsonl", ["a", "b", "n"])
    assert got.equals(clean)
    assert rows == clean_rows[:20] + [r + 5 for r in clean_rows[20:]]
    assert bad == [(21, "malformed_json"), (23, "malformed_json"), (24, "malformed_json"), (25, "malformed_json")]


def test_extra_keys_are_reported_and_missing_ones_read_as_null(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": 1, "zz": {"deep": true}}\n')
    table, _, _, reader = _read(path, ["a", "b"])
    assert table.to_pylist() == [{"a": "1", "b": None}]
    assert reader.layout.extra == ["zz"]


def test_a_line_nested_past_the_limit_is_quarantined_unparsed_and_the_file_goes_on(tmp_path):
    path = tmp_path / "x.jsonl"
    deep = '{"a": ' + "[" * 3000 + "]" * 3000 + "}"
    quoted = '{"a": "' + "[" * 3000 + '"}'  # brackets inside a string are text, not nesting
    path.write_text("\n".join(['{"a": 1}', deep, quoted, '{"a": 2}']) + "\n")
    table, rows, bad, _ = _read(path, ["a"])
    assert table.column("a").to_pylist() == ["1", "[" * 3000, "2"]
    assert rows == [1, 3, 4] and bad == [(2, "too_deeply_nested")]


def test_a_line_over_the_record_limit_is_quarantined_with_an_excerpt(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": 1}\n{"a": "' + "x" * 5000 + '"}\n{"a": 2}\n')
    src = list_source_files(str(tmp_path), "x.jsonl")[0]
    reader = open_reader(src, ["a"], encoding=None, chunk_rows=1000)
    reader.limits = RecordLimits(max_record_bytes=2048)
    chunks = list(reader.chunks())
    entries = [m for c in chunks for m in c.malformed]
    assert [(m.line, m.reason.value) for m in entries] == [(2, "record_too_large")]
    assert len(entries[0].text) <= 1024 and entries[0].text.startswith('{"a": "xxx')
    assert [v for c in chunks for v in c.table.column("a").to_pylist()] == ["1", "2"]


def test_the_byte_scan_finds_exact_depths_around_escapes_and_strings():
    block = b'{"a": "\\\\"}\n{"a": "\\"[{"}\n{"a": [[1]]}\n{"a": "x\n{}\n'
    found = scan(block)
    assert found.depth.tolist() == [1, 1, 3, -1, 1]
    assert found.shaped.tolist() == [True, True, True, False, True]
    text, odd = rewrite(block, found)
    assert not odd.any() and b'"a\\u0000": "[[1]]"' in text  # a nested value: its key marked


def _run(code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter, so a crash fails the test instead of killing pytest."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )


def test_a_line_nested_100000_levels_deep_is_quarantined_not_a_crash(tmp_path):
    path = tmp_path / "deep.jsonl"
    unclosed = '{"a": ' + '{"b":' * 100_000
    odd_quote = '{"a": ' + "[" * 100_000 + '"'  # depth not measurable: Python's parser meets it, guarded
    path.write_text("\n".join(['{"a": 1}', '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}", unclosed, odd_quote]))
    done = _run(f"""
        from sluice.formats import open_reader
        from sluice.sources.files import list_source_files
        src = list_source_files({str(tmp_path)!r}, "deep.jsonl")[0]
        chunks = list(open_reader(src, ["a"], encoding=None, chunk_rows=100).chunks())
        print(sorted((m.line, m.reason.value) for c in chunks for m in c.malformed))
        print([v for c in chunks for v in c.table.column("a").to_pylist()])
    """)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == [
        "[(2, 'too_deeply_nested'), (3, 'too_deeply_nested'), (4, 'malformed_json')]",
        "['1']",
    ]


def test_a_200_mb_line_streams_past_in_small_memory(tmp_path):
    path = tmp_path / "big.jsonl"
    with path.open("wb") as out:
        out.write(b'{"order_id": 1}\n{"order_id": 2, "email": "')
        chunk = b"e" * (8 * 1024 * 1024)
        for _ in range(25):
            out.write(chunk)
        out.write(b'"}\n{"order_id": 3}\n')
    done = _run(f"""
        import resource
        from sluice.formats import open_reader
        from sluice.sources.files import list_source_files
        src = list_source_files({str(tmp_path)!r}, "big.jsonl")[0]
        reader = open_reader(src, ["order_id", "email"], encoding=None, chunk_rows=100)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        chunks = list(reader.chunks())
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print([(m.line, m.reason.value, len(m.text)) for c in chunks for m in c.malformed])
        print([v for c in chunks for v in c.table.column("order_id").to_pylist()])
        print((after - before) // 1024)
    """)
    assert done.returncode == 0, done.stderr[-2000:]
    malformed, ids, growth_mib = done.stdout.splitlines()
    assert malformed == "[(2, 'record_too_large', 1024)]" and ids == "['1', '3']"
    assert int(growth_mib) < 100  # 200 MiB held whole would show; the blocks are 8 MiB


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.one_of(
        st.binary(max_size=400),
        st.lists(
            st.sampled_from(
                [
                    b"{",
                    b"}",
                    b"[",
                    b"]",
                    b'"',
                    b"\\",
                    b":",
                    b",",
                    b"\n",
                    b" ",
                    b'"a"',
                    b"1",
                    b"-",
                    b"e",
                    b"true",
                    b"null",
                    b"\xc3\xa9",
                    b"\r",
                    b"\t",
                    b"1.5",
                    b'{"a":',
                ]
            ),
            max_size=80,
        ).map(b"".join),
    )
)
def test_hostile_json_lines_end_in_rows_quarantine_or_a_clear_error(tmp_path, body):
    path = tmp_path / "h.jsonl"
    path.write_bytes(body)
    try:
        table, rows, bad, reader = _read(path, ["a"])
    except UnreadableFileError as exc:
        assert "hint" not in str(exc) or exc.hint
        return
    lines = body.split(b"\n")
    encoding = reader.encoding or "utf-8"  # a file not in UTF-8 is read in the encoding detected for it
    assert len(rows) == table.num_rows and len(set(rows) & {b[0] for b in bad}) == 0
    assert all(1 <= r <= len(lines) for r in rows)
    for row, value in zip(rows, table.column("a").to_pylist() if table.num_rows else [], strict=True):
        expected = json.loads(lines[row - 1].decode(encoding)).get("a")
        if expected is None:
            assert value is None
        elif isinstance(expected, str):
            assert value == expected
        elif isinstance(expected, (int, float)) and not isinstance(expected, bool):
            assert json.loads(value) == expected
        else:
            assert json.loads(value) == expected


def test_nan_and_infinity_which_json_lacks_are_quarantined_never_dropped(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": 2, "b": NaN}\n{"a": Infinity}\n{"a": {"c": -Infinity}}\n{"a": 5}\n')

    table, rows, bad, _ = _read(path, ["a"])

    assert rows == [1, 5] and table.column("a").to_pylist() == ["1", "5"]
    assert bad == [(2, "malformed_json"), (3, "malformed_json"), (4, "malformed_json")]
