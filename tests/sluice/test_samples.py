"""Tests of the sample-data generator: invariants, determinism, and an independent re-check."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pv
import pyarrow.parquet as pq
import pytest

import sluice
from demo.samples import (
    CUSTOMERS,
    SampleManifest,
    generate_customers,
    generate_orders,
    make_demo_samples,
)
from sluice.validate.contracts import ColumnType, Contract, find_contract

CONTRACTS = Path(sluice.__file__).parent / "contracts"
MIXED = {
    "fmt": ["csv", "csv", "jsonl", "parquet"],
    "gzip": [False, True, False, False],
    "encoding": ["utf-8", "utf-8", "latin-1", "utf-8"],
}


def _file_bytes(manifest: SampleManifest) -> list[bytes]:
    out = []
    for name in manifest.files:
        if name.endswith(".parquet"):
            out.append(pq.read_table(name).to_pandas().to_csv().encode())
        else:
            out.append(Path(name).read_bytes())
    return out


def _read_csv_records(path: Path, encoding: str = "utf-8") -> tuple[list[str], list[list[str]]]:
    raw = Path(path).read_bytes()
    text = (gzip.decompress(raw) if str(path).endswith(".gz") else raw).decode(encoding)
    rows = list(csv.reader(io.StringIO(text, newline="")))
    return rows[0], rows[1:]


@pytest.mark.parametrize("generate", [generate_orders, generate_customers])
@pytest.mark.parametrize("options", [{}, MIXED, {"fmt": "parquet"}], ids=["csv", "mixed", "parquet"])
def test_manifest_adds_up(tmp_path, generate, options):
    files = len(options.get("fmt", [])) if isinstance(options.get("fmt"), list) else 3
    m = generate(tmp_path, rows=4_000, files=files, seed=3, **options)
    assert m.rows_total == 4_000 == m.rows_unique_valid + m.rows_bad + m.rows_duplicate
    assert m.rows_bad == sum(m.bad_kinds.values()) and m.warnings == sum(m.warning_kinds.values())
    assert 0.015 < m.rows_bad / m.rows_total < 0.05 and 0.01 < m.rows_duplicate / m.rows_total < 0.03
    assert len(m.files) == files and all(Path(f).is_file() for f in m.files)
    if options.get("fmt") == "parquet":
        assert "malformed" not in m.bad_kinds


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a = generate_orders(tmp_path / "a", rows=3_000, files=4, seed=11, **MIXED)
    b = generate_orders(tmp_path / "b", rows=3_000, files=4, seed=11, **MIXED)
    c = generate_orders(tmp_path / "c", rows=3_000, files=4, seed=12, **MIXED)
    assert _file_bytes(a) == _file_bytes(b)
    assert (a.rows_bad, a.rows_duplicate, a.warnings) == (b.rows_bad, b.rows_duplicate, b.warnings)
    assert all(x != y for x, y in zip(_file_bytes(a), _file_bytes(c), strict=True))


@pytest.mark.parametrize("generate", [generate_orders, generate_customers])
def test_chunked_writing_equals_one_chunk(tmp_path, generate):
    whole = generate(tmp_path / "whole", rows=5_000, files=4, seed=5, chunk_rows=10_000, **MIXED)
    chunked = generate(tmp_path / "chunked", rows=5_000, files=4, seed=5, chunk_rows=333, **MIXED)
    assert _file_bytes(whole) == _file_bytes(chunked)
    assert whole == SampleManifest(**{**chunked.__dict__, "files": whole.files})


def _violations(frame: pd.DataFrame, contract: Contract) -> tuple[pd.Series, pd.Series]:
    """Per row: any critical violation, and the number of warning-level ones (own reading of the contract)."""
    critical = pd.Series(False, index=frame.index)
    warnings = pd.Series(0, index=frame.index)
    for spec in contract.columns:
        text = frame[spec.name].where(frame[spec.name] != "")
        bad = _column_violations(text, spec.type, spec.formats) | (text.isna() & (not spec.nullable))
        if spec.allowed_values is not None:
            bad |= text.notna() & ~text.isin(spec.allowed_values)
        if spec.pattern:
            bad |= text.notna() & ~text.fillna("").str.fullmatch(spec.pattern)
        if spec.min is not None or spec.max is not None:
            number = pd.to_numeric(text, errors="coerce")
            low, high = (-np.inf if spec.min is None else spec.min), (np.inf if spec.max is None else spec.max)
            bad |= (number < low) | (number > high)
        if spec.max_length:
            bad |= text.str.len().fillna(0) > spec.max_length
        if spec.critical:
            critical |= bad
        else:
            warnings += bad.astype(int)
    return critical, warnings.where(~critical, 0)


def _column_violations(text: pd.Series, kind: ColumnType, formats: list[str]) -> pd.Series:
    present = text.notna()
    if kind is ColumnType.INT64:
        return present & ~text.fillna("").str.fullmatch(r"[+-]?\d{1,18}")
    if kind is ColumnType.FLOAT64:
        return present & pd.to_numeric(text, errors="coerce").isna()
    if kind is ColumnType.BOOL:
        return present & ~text.str.lower().isin(["true", "false", "yes", "no", "t", "f", "y", "n", "1", "0"])
    if kind in (ColumnType.TIMESTAMP, ColumnType.DATE):
        parsed = pd.Series(False, index=text.index)
        for fmt in formats:
            if fmt == "epoch_ms":
                parsed |= text.fillna("").str.fullmatch(r"\d{10,16}")
            else:
                value = pd.to_datetime(text, format=fmt, errors="coerce", utc=True)
                parsed |= value.notna()
        return present & ~parsed
    return pd.Series(False, index=text.index)


@pytest.mark.parametrize("dataset", ["orders", "customers"])
def test_csv_counts_match_an_independent_check(tmp_path, dataset):
    generate = generate_orders if dataset == "orders" else generate_customers
    m = generate(tmp_path, rows=6_000, files=3, seed=21, encoding="utf-8-sig" if dataset == "customers" else "utf-8")
    contract = find_contract(dataset, CONTRACTS)
    records: list[list[str]] = []
    for name in m.files:
        header, rows = _read_csv_records(Path(name), "utf-8-sig")
        assert header == contract.column_names
        records += rows
    width = len(contract.column_names)
    assert len(records) == m.rows_total
    assert sum(len(r) != width for r in records) == m.bad_kinds["malformed"]
    frame = pd.DataFrame([r for r in records if len(r) == width], columns=contract.column_names, dtype=object)
    critical, warnings = _violations(frame, contract)
    assert int(critical.sum()) == m.rows_bad - m.bad_kinds["malformed"]
    valid = frame[~critical]
    key = contract.primary_key
    assert int(valid.duplicated(key).sum()) == m.rows_duplicate
    assert (valid.duplicated(key) == valid.duplicated()).all()  # duplicates are exact copies
    assert int(warnings.sum()) == m.warnings
    assert not frame.loc[critical, key].isin(valid[key].to_dict("list")).all(axis=1).any()


def test_naive_local_times_are_never_ambiguous(tmp_path):
    m = generate_orders(tmp_path, rows=30_000, seed=2, bad_fraction=0, days=40)
    ts = pd.read_csv(m.files[0], usecols=["order_ts"], dtype=str)["order_ts"]
    naive = ts[ts.str.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")]
    local = pd.to_datetime(naive).dt.tz_localize("Europe/Berlin", ambiguous="NaT", nonexistent="NaT")
    assert len(naive) > 1_000 and local.notna().all()
    for style in (r".*Z", r".*[+-]\d{2}:\d{2}", r"\d{2}/\d{2}/\d{4} .*", r"\d{13}", r".*\.\d{3}Z"):
        assert ts.str.fullmatch(style).sum() > 300, style


def test_quoting_bom_and_latin1_round_trip(tmp_path):
    m = generate_customers(tmp_path, rows=2_000, files=2, seed=4, encoding=["utf-8-sig", "latin-1"])
    first, second = (Path(f).read_bytes() for f in m.files)
    assert first.startswith(b"\xef\xbb\xbf") and not second.startswith(b"\xef\xbb\xbf")
    _, rows = _read_csv_records(Path(m.files[1]), "latin-1")
    width = len(CUSTOMERS.columns)
    names = [r[2] for r in rows if len(r) == width]
    assert any(", " in n for n in names) and any('"' in n for n in names)
    assert all(ch in "".join(names) for ch in "éüöñø")
    _, rows = _read_csv_records(Path(m.files[0]), "utf-8-sig")
    table = pv.read_csv(
        m.files[0],
        parse_options=pv.ParseOptions(invalid_row_handler=lambda row: "skip"),
        convert_options=pv.ConvertOptions(strings_can_be_null=False, column_types={"full_name": pa.string()}),
    )
    assert table.column_names[0] == "customer_id"
    assert table.column("full_name").to_pylist() == [r[2] for r in rows if len(r) == width]


def test_jsonl_lines_parse_except_malformed(tmp_path):
    m = generate_orders(tmp_path, rows=5_000, seed=9, fmt="jsonl")
    broken = 0
    for line in Path(m.files[0]).read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            broken += 1
            continue
        assert record["order_id"] is None or isinstance(record["order_id"], int)
    assert broken == m.bad_kinds["malformed"]


def test_demo_samples(tmp_path):
    manifests = make_demo_samples(tmp_path)
    assert set(manifests) == {"orders", "customers"}
    orders = manifests["orders"]
    assert [Path(f).name for f in orders.files] == [
        "orders-000.csv",
        "orders-001.csv.gz",
        "orders-002.csv",
        "orders-003.jsonl",
    ]
    assert Path(orders.files[2]).read_bytes().decode("latin-1").count("é") > 100
    assert Path(manifests["customers"].files[0]).read_bytes().startswith(b"\xef\xbb\xbf")
    for manifest in manifests.values():
        manifest.check()
