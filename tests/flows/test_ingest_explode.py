"""Arrays exploded into child datasets through the ingest-files flow: contents, quarantine, crash, concurrency."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from sluice.lake.table import table_uri
from sluice.runs.metastore import engine_for, ingest_runs
from sluice.settings import get_settings
from tests.flows.helpers import lake_table, quarantine_table, run_ingest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PARENT = """
name: baskets
owner: shop@sluice.example
freshness_sla: 1d
primary_key: [basket_id]
partition: {column: placed_at}
columns:
  - {name: basket_id, type: int64, min: 1}
  - {name: placed_at, type: timestamp}
  - {name: shop, type: string}
explode:
  lines:
    dataset: basket_lines
    parent_key: [basket_id]
    index_column: line_no
    carry: [placed_at]
    contract: basket_lines
"""
CHILD = """
name: basket_lines
owner: shop@sluice.example
freshness_sla: 1d
primary_key: [basket_id, line_no]
partition: {column: placed_at}
columns:
  - {name: basket_id, type: int64}
  - {name: line_no, type: int64}
  - {name: placed_at, type: timestamp}
  - {name: sku, type: string, pattern: '^S\\d+$'}
  - {name: qty, type: int64, min: 1}
  - {name: price_eur, type: float64, nullable: true}
"""


def basket(i: int, lines: Any, **changes: Any) -> dict[str, Any]:
    return {"basket_id": i, "placed_at": "2024-05-01T09:00:00Z", "shop": "berlin", "lines": lines, **changes}


def line(n: int, qty: int = 1, **changes: Any) -> dict[str, Any]:
    return {"sku": f"S{n}", "qty": qty, "price": {"eur": n / 4}, **changes}


def _write(path: Path, records: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(r) + "\n" for r in records)
    path.write_text(text.replace(', "lines": "MISSING"', ""))


@pytest.fixture()
def contracts(sluice_home, monkeypatch) -> Path:
    root = sluice_home.home / "contracts"
    root.mkdir(parents=True)
    (root / "baskets.yaml").write_text(PARENT)
    (root / "basket_lines.yaml").write_text(CHILD)
    monkeypatch.setenv("SLUICE_CONTRACTS_DIR", str(root))
    get_settings(fresh=True)
    return root


def _lines_by_key() -> dict[tuple[int, int], tuple[str, int, float | None]]:
    rows = lake_table("basket_lines").to_pylist()
    assert len(rows) == len({(r["basket_id"], r["line_no"]) for r in rows}), "a child row landed twice"
    return {(r["basket_id"], r["line_no"]): (r["sku"], r["qty"], r["price_eur"]) for r in rows}


def _child_runs(dataset: str) -> list[dict[str, Any]]:
    with engine_for(get_settings().metadata_db_url()).connect() as conn:
        rows = conn.execute(select(ingest_runs).where(ingest_runs.c.dataset == dataset)).mappings().all()
    return [dict(r) for r in rows]


def test_parent_rows_land_without_the_array_and_each_element_lands_as_a_keyed_child_row(
    prefect_api, dask_address, contracts, tmp_path
):
    big = [line(n, qty=n % 7 + 1) for n in range(5000)]
    _write(
        tmp_path / "src" / "b-1.jsonl",
        [
            basket(1, [line(10, qty=2), line(11)]),
            basket(2, []),  # an empty array: no child rows
            basket(3, None),  # a null array: no child rows
            basket(4, "MISSING"),  # no array at all
            basket(5, big),  # a huge array
            basket(6, [line(60), line(61, qty=0), "S62", {"sku": "S63", "qty": "three"}, [1]]),  # bad elements
            basket(7, {"sku": "S70"}),  # an object where the array belongs: the parent is quarantined
            basket(8, [line(80)], placed_at="not a time"),  # a quarantined parent takes its children along
        ],
    )

    report = run_ingest(dask_address, "baskets", str(tmp_path / "src"))

    assert (report.rows_read, report.rows_written, report.rows_quarantined) == (8, 6, 2)
    parents = lake_table("baskets")
    assert "lines" not in parents.column_names
    assert sorted(parents.column("basket_id").to_pylist()) == [1, 2, 3, 4, 5, 6]
    lines = _lines_by_key()
    expected = {(1, 0): ("S10", 2, 2.5), (1, 1): ("S11", 1, 2.75), (6, 0): ("S60", 1, 15.0)}
    expected.update({(5, n): (f"S{n}", n % 7 + 1, n / 4) for n in range(5000)})
    assert lines == expected
    quarantined = [r for r in quarantine_table().to_pylist() if r["dataset"] == "basket_lines"]
    got = sorted((dict(r["record"])["basket_id"], dict(r["record"])["line_no"], r["reason"]) for r in quarantined)
    assert got == [
        ("6", "1", "out_of_range"),
        ("6", "2", "wrong_shape"),
        ("6", "3", "unparseable_int"),
        ("6", "4", "wrong_shape"),
        ("8", "0", "parent_quarantined"),
    ]
    (child,) = _child_runs("basket_lines")
    assert (child["rows_read"], child["rows_written"], child["rows_quarantined"]) == (5008, 5003, 5)
    assert child["run_id"] == f"{report.run_id}.1"


def _worker(mode: str, prefect_api: str, dask_address: str, src: Path, pattern: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PREFECT_API_URL": prefect_api,
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.flows.explode_worker", mode, dask_address, "baskets", str(src), pattern],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_run_that_dies_between_the_parent_and_child_commits_is_completed_exactly_by_the_next(
    prefect_api, dask_address, contracts, tmp_path
):
    src = tmp_path / "src"
    _write(src / "b-1.jsonl", [basket(i, [line(i * 10 + k) for k in range(3)]) for i in range(1, 41)])

    crashed = _worker("crash", prefect_api, dask_address, src, "*")
    _out, err = crashed.communicate(timeout=600)

    assert crashed.returncode == 17, err[-3000:]
    assert lake_table("baskets").num_rows == 40
    assert not list(Path(table_uri(get_settings().lake_root(), "basket_lines")).glob("_delta_log/*.json"))
    report = run_ingest(dask_address, "baskets", str(src))

    assert report.rows_written == 0 and [f.status.value for f in report.files] == ["skipped"]
    assert lake_table("baskets").num_rows == 40
    assert _lines_by_key() == {(i, k): (f"S{i * 10 + k}", 1, (i * 10 + k) / 4) for i in range(1, 41) for k in range(3)}
    (child,) = _child_runs("basket_lines")
    assert (child["rows_read"], child["rows_written"]) == (120, 120)
    again = run_ingest(dask_address, "baskets", str(src))
    assert again.rows_read == 0 and len(_lines_by_key()) == 120


def test_two_runs_of_different_files_at_once_land_every_parent_and_child_once(
    prefect_api, dask_address, contracts, tmp_path
):
    src = tmp_path / "src"
    for f in range(2):
        _write(src / f"b-{f}.jsonl", [basket(f * 100 + i, [line(k) for k in range(i % 4)]) for i in range(1, 61)])

    procs = [_worker("run", prefect_api, dask_address, src, f"b-{f}.jsonl") for f in range(2)]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, err[-3000:]
        reports.append(json.loads(out.strip().splitlines()[-1]))

    assert sorted(r["rows_written"] for r in reports) == [60, 60]
    assert sorted(lake_table("baskets").column("basket_id").to_pylist()) == sorted(
        f * 100 + i for f in range(2) for i in range(1, 61)
    )
    expected = {(f * 100 + i, k): (f"S{k}", 1, k / 4) for f in range(2) for i in range(1, 61) for k in range(i % 4)}
    assert _lines_by_key() == expected
    children = _child_runs("basket_lines")
    assert sorted(c["rows_written"] for c in children) == [90, 90]
