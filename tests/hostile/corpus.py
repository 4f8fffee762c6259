"""Hostile source files, each with what must become of it.

Every case is a factory that writes one file and says what staging it must
end in: a clear file-level error (``error`` holds words the message must
contain), or rows read, kept and quarantined with the reasons expected. The
runner (:mod:`tests.hostile.stage_cases`) stages each case in a child
process, so a crash of a parser fails the case instead of the test session.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tests.factories import ORDER_HEADER, OrderBatch, csv_text, good_orders


@dataclass(frozen=True)
class Expect:
    """What staging one hostile file must end in."""

    error: tuple[str, ...] = ()  # words of the file-level error; empty: the file stages
    rows_read: int | None = None
    rows_valid: int | None = None
    reasons: frozenset[str] = frozenset()  # exactly these quarantine reasons
    warnings: tuple[str, ...] = ()  # warning keys (column:reason) that must be counted
    emails: tuple[str, ...] = ()  # e-mails that must be staged exactly as written
    order_ts: tuple[str, ...] = ()  # staged order_ts values (UTC), in source order
    may_fail: bool = False  # a clear file-level error is as good an answer as staged rows


@dataclass(frozen=True)
class Case:
    name: str
    filename: str
    write: Callable[[Path], None]
    expect: Expect
    env: dict[str, str] = field(default_factory=dict)


def _json_lines(rows: list[dict[str, object]], extra: list[bytes] = ()) -> bytes:
    body = [json.dumps(r).encode() for r in rows]
    return b"\n".join([*body, *extra]) + b"\n"


def _order(i: int, **changes: object) -> dict[str, object]:
    row: dict[str, object] = dict(zip(ORDER_HEADER, good_orders(1, start=i)[0].cells(), strict=True))
    row.update(changes)
    return row


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"1" + b"]" * depth


def _deep_line(depth: int, column: str) -> bytes:
    head = json.dumps(_order(900))[:-1].encode()
    return head + f', "{column}": '.encode() + _nested(depth) + b"}"


def _bytes(data: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data)


def _good_csv(n: int, start: int = 1) -> str:
    return csv_text(OrderBatch(rows=good_orders(n, start=start)))


def _utf8_then_latin1(path: Path) -> None:
    rows = good_orders(5_000)
    for row in rows:
        row.email = f"jürgen{row.order_id}@example.com"
    late = good_orders(1, start=9_001)[0]
    late.email = "jürgen@example.com"
    text = csv_text(OrderBatch(rows=rows)).encode("utf-8")
    path.write_bytes(text + ",".join(late.cells()).encode("latin-1") + b"\n")


def _bom_then_latin1(path: Path) -> None:
    rows = good_orders(4_000)
    late = good_orders(1, start=9_001)[0]
    late.email = "søren@example.com"
    body = csv_text(OrderBatch(rows=rows)).encode("utf-8")
    path.write_bytes(b"\xef\xbb\xbf" + body + ",".join(late.cells()).encode("latin-1") + b"\n")


def _invalid_utf8(path: Path) -> None:
    row = good_orders(1, start=50)[0]
    row.email = "x@example.com"
    bad = ",".join(row.cells()).encode().replace(b"x@example", b"\xc3\x28\xa0@example")
    path.write_bytes(_good_csv(3).encode() + bad + b"\n")


def _invalid_in_utf8(path: Path) -> None:
    rows = good_orders(4)
    rows[0].email = "zoë@example.com"
    _invalid_utf8(path)
    bad = path.read_bytes().split(b"\n", 4)[4]
    path.write_bytes(csv_text(OrderBatch(rows=rows)).encode() + bad)


def _parquet(table: pa.Table) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        pq.write_table(table, path)

    return write


def _orders_table(n: int) -> dict[str, pa.Array]:
    rows = good_orders(n)
    return {name: pa.array([getattr(r, name) or None for r in rows], pa.string()) for name in ORDER_HEADER}


def _ns_timestamps() -> pa.Table:
    cols = _orders_table(3)
    cols["order_ts"] = pa.array([1_709_632_800_123_456_789 + i for i in range(3)], pa.timestamp("ns", tz="UTC"))
    return pa.table(cols)


def _struct_in_string() -> pa.Table:
    cols = _orders_table(3)
    cols["customer_id"] = pa.array([{"user": "a", "host": "example.com"}] * 3)
    return pa.table(cols)


def _truncated_gzip() -> bytes:
    whole = gzip.compress(_good_csv(2_000).encode())
    return whole[: len(whole) // 2]


def _truncated_parquet() -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table(_orders_table(100)), sink)
    return sink.getvalue()[:-40]


CASES: list[Case] = [
    Case(
        "json nested 100,000 deep",
        "deep.jsonl",
        _bytes(_json_lines([_order(1), _order(2)], [_deep_line(100_000, "extra")])),
        Expect(rows_read=3, rows_valid=2, reasons=frozenset({"too_deeply_nested"})),
    ),
    Case(
        "json nested 3,000 deep in a contract column",
        "deep-email.jsonl",
        _bytes(_json_lines([_order(1)], [_deep_line(3_000, "email")])),
        Expect(rows_read=2, rows_valid=1, reasons=frozenset({"too_deeply_nested"})),
    ),
    Case(
        "json line over the record limit",
        "huge.jsonl",
        _bytes(_json_lines([_order(1), _order(2, email="a" * 3_000_000 + "@example.com"), _order(3)])),
        Expect(rows_read=3, rows_valid=2, reasons=frozenset({"record_too_large"})),
        env={"SLUICE_MAX_RECORD_BYTES": "1000000"},
    ),
    Case(
        "json top-level array and scalar lines",
        "shapes.jsonl",
        _bytes(_json_lines([_order(1)], [b"[1, 2]", b"42", b'"text"', b'{"order_id": '])),
        Expect(rows_read=5, rows_valid=1, reasons=frozenset({"malformed_json"})),
    ),
    Case(
        "json lone surrogate escape",
        "surrogate.jsonl",
        _bytes(_json_lines([_order(1)], [json.dumps(_order(2)).encode().replace(b"ann@", b"\\ud800@")])),
        Expect(rows_read=2, may_fail=True),
    ),
    Case(
        "json line that is not utf-8 in a utf-8 file",
        "latin1-line.jsonl",
        _bytes(
            _json_lines(
                [_order(2)],
                [
                    json.dumps(_order(1, email="zoë@example.com"), ensure_ascii=False).encode(),
                    json.dumps(_order(3, email="søren@example.com"), ensure_ascii=False).encode("latin-1"),
                ],
            )
        ),
        Expect(rows_read=3, rows_valid=2, reasons=frozenset({"undecodable_bytes"}), emails=("zoë@example.com",)),
    ),
    Case(
        "json timestamps keep their offsets",
        "offsets.jsonl",
        _bytes(
            _json_lines([_order(1, order_ts="2024-10-01T03:39:15Z"), _order(2, order_ts="2024-10-01T03:39:15+01:00")])
        ),
        Expect(rows_read=2, rows_valid=2, order_ts=("2024-10-01 03:39:15+00:00", "2024-10-01 02:39:15+00:00")),
    ),
    Case(
        "parquet nanoseconds that are not whole microseconds",
        "ns.parquet",
        _parquet(_ns_timestamps()),
        Expect(
            rows_read=3,
            rows_valid=3,
            order_ts=(
                "2024-03-05 10:00:00.123456+00:00",
                "2024-03-05 10:00:00.123456+00:00",
                "2024-03-05 10:00:00.123456+00:00",
            ),
        ),
    ),
    Case(
        "parquet struct in a string column",
        "struct.parquet",
        _parquet(_struct_in_string()),
        Expect(rows_read=3, rows_valid=0, reasons=frozenset({"wrong_type"})),
    ),
    Case("parquet file cut short", "cut.parquet", _bytes(_truncated_parquet()), Expect(error=("cut.parquet",))),
    Case(
        "utf-8 file with one latin-1 row past the sample",
        "late-latin1.csv",
        _utf8_then_latin1,
        Expect(
            rows_read=5_001,
            rows_valid=5_000,
            reasons=frozenset({"undecodable_bytes"}),
            emails=("jürgen1@example.com", "jürgen5000@example.com"),
        ),
    ),
    Case(
        "bom and a late latin-1 row",
        "bom-late.csv",
        _bom_then_latin1,
        Expect(rows_read=4_001, rows_valid=4_000, reasons=frozenset({"undecodable_bytes"})),
    ),
    Case(
        "invalid utf-8 in an otherwise ascii file is a flagged guess",
        "invalid-utf8.csv",
        _invalid_utf8,
        Expect(rows_read=4, rows_valid=4, warnings=("encoding:guessed",)),
    ),
    Case(
        "invalid utf-8 in a utf-8 file",
        "invalid-in-utf8.csv",
        _invalid_in_utf8,
        Expect(rows_read=5, rows_valid=4, reasons=frozenset({"undecodable_bytes"}), emails=("zoë@example.com",)),
    ),
    Case(
        "duplicated header column",
        "dup-header.csv",
        _bytes(
            (
                ",".join([*ORDER_HEADER, "status"]) + "\n" + ",".join([*good_orders(1)[0].cells(), "paid"]) + "\n"
            ).encode()
        ),
        Expect(error=("status", "twice")),
    ),
    Case(
        "semicolon-delimited file",
        "semicolons.csv",
        _bytes(_good_csv(5).replace(",", ";").encode()),
        Expect(error=("';'",)),
    ),
    Case("truncated gzip", "cut.csv.gz", _bytes(_truncated_gzip()), Expect(error=("truncated or corrupt",))),
    Case("empty file", "empty.csv", _bytes(b""), Expect(rows_read=0)),
    Case("header only", "header.csv", _bytes((",".join(ORDER_HEADER) + "\n").encode()), Expect(rows_read=0)),
    Case(
        "nul bytes inside fields",
        "nul.csv",
        _bytes(_good_csv(3).replace("ann@", "a\x00n@").encode()),
        Expect(rows_read=3),
    ),
    Case(
        "unterminated quote at the end",
        "quote.csv",
        _bytes((_good_csv(3) + '4,"C000004,2024').encode()),
        Expect(may_fail=True),
    ),
    Case("binary garbage named csv", "garbage.csv", _bytes(bytes(range(256)) * 64), Expect(may_fail=True)),
    Case(
        "integers too large and in exponent form",
        "bigint.csv",
        _bytes(_good_csv(2).replace("\n1,", "\n99999999999999999999,").replace("\n2,", "\n1e400,").encode()),
        Expect(rows_read=2, rows_valid=0, reasons=frozenset({"unparseable_int"})),
    ),
]
