"""Tables built by several small ingestion runs, for the maintenance tests."""

from __future__ import annotations

from pathlib import Path

from deltalake import DeltaTable

from tests.factories import OrderBatch, good_orders, write_csv
from tests.sluice.lake.commit_worker import Spec, run

DAYS = ("2024-03-05", "2024-03-06")


def run_spec(root: Path, run_id: str, files: list[Path], *, metadata_url: str | None = None) -> Spec:
    return Spec(
        run_id=run_id,
        files=[str(f) for f in files],
        staging=str(root / "staging"),
        lake_uri=str(root / "lake" / "orders"),
        quarantine_uri=str(root / "quarantine"),
        metadata_url=metadata_url,
    )


def order_file(root: Path, index: int, rows: int = 12) -> Path:
    """The ``index``-th source file: ``rows`` new orders on each of :data:`DAYS`."""
    start = 1 + index * 1000
    made = [good_orders(rows, start=start + 500 * n, day=day) for n, day in enumerate(DAYS)]
    batch = OrderBatch(rows=[r for day_rows in made for r in day_rows])
    return write_csv(root / "src" / f"orders-{index:03d}.csv", batch)


def ingest_runs(root: Path, runs: int, *, first: int = 0) -> Spec:
    """``runs`` ingestion runs of one new file each, one after another; the spec of the last."""
    spec = None
    for i in range(first, first + runs):
        spec = run_spec(root, f"run-{i}", [order_file(root, i)])
        report = run(spec)
        assert report["error"] == "", report["error"]
    assert spec is not None
    return spec


def rows(uri: str) -> list[tuple[object, ...]]:
    """Every row of the table, every column, as a sorted multiset."""
    table = DeltaTable(uri).to_pyarrow_table()
    return sorted(zip(*(table.column(n).to_pylist() for n in sorted(table.column_names)), strict=True), key=repr)


def files_per_day(uri: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for path in DeltaTable(uri).file_uris():
        day = Path(path).parent.name.removeprefix("dt=")
        counts[day] = counts.get(day, 0) + 1
    return counts
