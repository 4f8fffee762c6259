"""One logical row lands identically from CSV, gzip CSV, JSON Lines and Parquet, exactly as the contract types it.

Random contracts and rows (valid and invalid text of every contract type,
offsets, naive local times, dates, unicode, numbers as JSON numbers or as
text) are written in every format and several encodings, landed through the
readers and validation, and compared with each other and with an expected
outcome computed here, independently of Sluice's parsers.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.formats import open_reader
from sluice.sources.files import list_source_files
from sluice.validate.chunk import BatchContext, validate_chunk
from sluice.validate.contracts import Contract, parse_contract

CTX = BatchContext("diff", "run-1", "batch-1", "/in/x", date(2024, 3, 6))
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]
KINDS = ["string", "int64", "float64", "bool", "timestamp", "date"]
_JSON_NUMBER = re.compile(r"^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$")


@dataclass(frozen=True)
class Cell:
    text: str | None  # as written in the file (None: empty / null)
    value: object  # what the lake must hold, when it parses
    fails: str | None  # the reason code when it does not


@dataclass(frozen=True)
class Col:
    name: str
    kind: str
    nullable: bool
    critical: bool


_TEXT = st.text(alphabet=st.sampled_from(list("abcXYZ019 ,;\"'éüßØ€–漢字🙂")), min_size=1, max_size=8)
_MOMENT = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2035, 12, 31))


def _int_cell() -> st.SearchStrategy[Cell]:
    good = st.integers(-(10**15), 10**15).flatmap(
        lambda k: st.sampled_from([Cell(str(k), k, None), Cell(f"+{abs(k)}", abs(k), None)])
    )
    bad = st.sampled_from(["abc", "1.5", "1e3", "--1", "0x10"]).map(lambda t: Cell(t, None, "unparseable_int"))
    return st.one_of(good, bad)


def _float_cell() -> st.SearchStrategy[Cell]:
    good = st.floats(allow_nan=False, allow_infinity=False, width=64).map(lambda x: Cell(repr(x), x, None))
    exp = st.integers(-5, 5).map(lambda e: Cell(f"2e{e}", float(f"2e{e}"), None))
    bad = st.sampled_from(["x1", "1,5", "nan?", "1.2.3"]).map(lambda t: Cell(t, None, "unparseable_float"))
    return st.one_of(good, exp, bad)


def _bool_cell() -> st.SearchStrategy[Cell]:
    words = {"true": True, "false": False, "yes": True, "no": False, "1": True, "0": False, "T": True}
    good = st.sampled_from(sorted(words)).map(lambda w: Cell(w, words[w], None))
    return st.one_of(good, st.sampled_from(["maybe", "2"]).map(lambda t: Cell(t, None, "unparseable_bool")))


def _ts_cell(zone: str) -> st.SearchStrategy[Cell]:
    def forms(moment: datetime, minutes: int, micros: int) -> st.SearchStrategy[Cell]:
        moment = moment.replace(microsecond=micros)
        utc = moment.replace(tzinfo=timezone.utc)
        offset = timezone(timedelta(minutes=minutes))
        shifted = utc.astimezone(offset)
        sign = "+" if minutes >= 0 else "-"
        stamp = f"{shifted:%Y-%m-%dT%H:%M:%S}" + (f".{micros:06d}" if micros else "")
        sep = " " if micros % 2 else "T"
        naive = moment.strftime(f"%Y-%m-%d{sep}%H:%M:%S")
        return st.sampled_from(
            [
                Cell(f"{utc:%Y-%m-%dT%H:%M:%S}" + (f".{micros:06d}" if micros else "") + "Z", utc, None),
                Cell(f"{stamp}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}", utc, None),
                _local(naive, moment.replace(microsecond=0), zone),
                _local(moment.strftime("%Y-%m-%d"), datetime(moment.year, moment.month, moment.day), zone),
            ]
        )

    good = st.builds(
        lambda m, o, u: (m, o, u),
        _MOMENT,
        st.sampled_from([0, 60, -300, 330, 840, -720]),
        st.sampled_from([0, 0, 123456, 1]),
    ).flatmap(lambda a: forms(*a))
    bad = st.sampled_from(["garbage", "2024-13-01T00:00:00Z", "2024-02-30", "24/10/01"]).map(
        lambda t: Cell(t, None, "unparseable_timestamp")
    )
    return st.one_of(good, bad)


def _local(text: str, naive: datetime, zone: str) -> Cell:
    """A naive time read in ``zone``; one a DST change makes ambiguous or skips is refused."""
    tz = ZoneInfo(zone)
    early, late = naive.replace(tzinfo=tz, fold=0), naive.replace(tzinfo=tz, fold=1)
    if early.utcoffset() != late.utcoffset():
        return Cell(text, None, "ambiguous_local_time")
    return Cell(text, early.astimezone(timezone.utc), None)


def _date_cell() -> st.SearchStrategy[Cell]:
    good = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)).map(
        lambda d: Cell(d.isoformat(), d, None)
    )
    bad = st.sampled_from(["2024-02-30", "2024-13-01", "tomorrow"]).map(lambda t: Cell(t, None, "unparseable_date"))
    return st.one_of(good, bad)


def _cell(kind: str, zone: str) -> st.SearchStrategy[Cell]:
    valued = {
        "string": _TEXT.map(lambda t: Cell(t, t, None)),
        "int64": _int_cell(),
        "float64": _float_cell(),
        "bool": _bool_cell(),
        "timestamp": _ts_cell(zone),
        "date": _date_cell(),
    }[kind]
    return st.one_of(valued, st.just(Cell(None, None, None)))


@st.composite
def cases(draw: st.DrawFn) -> tuple[Contract, list[Col], list[list[Cell]], str]:
    zone = draw(st.sampled_from(ZONES))
    cols = [Col("id", "int64", False, True), Col("ts", "timestamp", False, True)]
    for i in range(draw(st.integers(1, 4))):
        cols.append(Col(f"c{i}", draw(st.sampled_from(KINDS)), draw(st.booleans()), draw(st.booleans())))
    yaml = "\n".join(
        [
            f"name: diff\nowner: d@x.example\nfreshness_sla: 1d\nsource_timezone: {zone}",
            "primary_key: [id]\npartition: {column: ts}\ncolumns:",
        ]
        + [
            f"  - {{name: {c.name}, type: {c.kind}, nullable: {str(c.nullable).lower()}, "
            f"criticality: {'critical' if c.critical else 'warning'}}}"
            for c in cols
        ]
    )
    n = draw(st.integers(1, 8))
    rows = []
    for r in range(n):
        row = [Cell(str(r + 1), r + 1, None)]
        row += [draw(_cell(c.kind, zone)) for c in cols[1:]]
        rows.append(row)
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]))
    texts = [c.text for row in rows for c in row if c.text]
    if encoding == "cp1252" and not all(_fits(t, "cp1252") for t in texts):
        encoding = "utf-8"
    return parse_contract(yaml), cols, rows, encoding


def _fits(text: str, encoding: str) -> bool:
    try:
        text.encode(encoding)
        return True
    except UnicodeEncodeError:
        return False


def _expected(cols: list[Col], rows: list[list[Cell]]) -> tuple[dict[int, dict], dict[int, set[str]]]:
    """Valid rows (column -> value) and quarantined rows (their 'column:reason' tags), by row number."""
    valid, quarantined = {}, {}
    for number, row in enumerate(rows, start=1):
        tags, values = set(), {}
        for col, cell in zip(cols, row, strict=True):
            failed = [cell.fails] if cell.fails else []
            if not col.nullable and cell.value is None:
                failed.append("null_value")
            if col.critical:
                tags |= {f"{col.name}:{f}" for f in failed}
            values[col.name] = cell.value
        if tags:
            quarantined[number] = tags
        else:
            valid[number] = values
    return valid, quarantined


def _json_value(kind: str, text: str | None) -> object:
    if text is None:
        return None
    if kind in ("int64", "float64") and _JSON_NUMBER.match(text):
        return json.loads(text, parse_float=_Raw, parse_int=_Raw)
    if kind == "bool" and text in ("true", "false"):
        return text == "true"
    return text


class _Raw(str):
    """A number kept as its literal text, written back unchanged."""


def _write(dirpath: Path, cols: list[Col], rows: list[list[Cell]], encoding: str) -> dict[str, tuple[Path, int]]:
    names = [c.name for c in cols]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(names)
    writer.writerows([[c.text or "" for c in row] for row in rows])
    files = {}
    (dirpath / "a.csv").write_bytes(out.getvalue().encode(encoding))
    (dirpath / "b.csv.gz").write_bytes(gzip.compress(out.getvalue().encode(encoding)))
    lines = []
    for row in rows:
        parts = []
        for col, cell in zip(cols, row, strict=True):
            value = _json_value(col.kind, cell.text)
            body = str(value) if isinstance(value, _Raw) else json.dumps(value, ensure_ascii=False)
            parts.append(f"{json.dumps(col.name)}: {body}")
        lines.append("{" + ", ".join(parts) + "}")
    (dirpath / "c.jsonl").write_bytes(("\n".join(lines) + "\n").encode(encoding))
    pq.write_table(
        pa.table({c.name: pa.array([row[i].text for row in rows], pa.string()) for i, c in enumerate(cols)}),
        dirpath / "d.parquet",
    )
    files = {
        "csv": (dirpath / "a.csv", 2),
        "csv.gz": (dirpath / "b.csv.gz", 2),
        "jsonl": (dirpath / "c.jsonl", 1),
        "parquet": (dirpath / "d.parquet", 1),
    }
    return files


def _land(path: Path, contract: Contract, encoding: str | None, first: int) -> tuple[pa.Table, dict[int, set[str]]]:
    src = list_source_files(str(path.parent), path.name)[0]
    reader = open_reader(src, contract.column_names, encoding=encoding, chunk_rows=1000)
    results = [validate_chunk(chunk, contract, CTX) for chunk in reader.chunks()]
    valid = pa.concat_tables([r.valid for r in results])
    valid = valid.set_column(
        valid.schema.get_field_index("_source_row"),
        "_source_row",
        pa.compute.subtract(valid.column("_source_row"), first - 1),
    )
    quarantine = pa.concat_tables([r.quarantine for r in results]).to_pylist()
    return valid, {q["source_row"] - first + 1: set(q["failures"].split("; ")) for q in quarantine}


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(case=cases())
def test_every_format_and_encoding_lands_the_same_rows_as_the_contract_types_them(tmp_path_factory, case):
    contract, cols, rows, encoding = case
    files = _write(tmp_path_factory.mktemp("d"), cols, rows, encoding)
    landed = {
        fmt: _land(path, contract, None if fmt == "parquet" else encoding, first)
        for fmt, (path, first) in files.items()
    }
    valid, quarantined = _expected(cols, rows)
    for fmt, (table, q) in landed.items():
        assert q == quarantined, fmt
        got = {r["_source_row"]: r for r in table.to_pylist()}
        assert sorted(got) == sorted(valid), fmt
        for number, values in valid.items():
            assert {k: got[number][k] for k in values} == values, (fmt, number)
    tables = [t for t, _ in landed.values()]
    assert all(t.equals(tables[0]) for t in tables[1:])


def test_an_explicit_offset_wins_over_the_source_zone_in_every_format(tmp_path):
    cols = [Col("id", "int64", False, True), Col("ts", "timestamp", False, True), Col("s", "string", True, True)]
    rows = [
        [Cell("1", 1, None), Cell("2024-10-01T03:39:15Z", None, None), Cell("2024-01-01", None, None)],
        [Cell("2", 2, None), Cell("2024-10-01T03:39:15+01:00", None, None), Cell("x", None, None)],
        [Cell("3", 3, None), Cell("2024-10-01 03:39:15", None, None), Cell(None, None, None)],
    ]
    contract = parse_contract(
        "name: diff\nowner: d@x.example\nfreshness_sla: 1d\nsource_timezone: Europe/Berlin\n"
        "primary_key: [id]\npartition: {column: ts}\ncolumns:\n"
        "  - {name: id, type: int64}\n  - {name: ts, type: timestamp}\n"
        "  - {name: s, type: string, nullable: true}\n"
    )
    for fmt, (path, first) in _write(tmp_path, cols, rows, "utf-8").items():
        table, _ = _land(path, contract, None, first)
        stamps = [v.isoformat() for v in table.column("ts").to_pylist()]
        assert stamps == ["2024-10-01T03:39:15+00:00", "2024-10-01T02:39:15+00:00", "2024-10-01T01:39:15+00:00"], fmt
        assert table.column("s").to_pylist()[0] == "2024-01-01", fmt
