"""Three small datasets and the quarantine, filled through the real staging and commit path."""

from __future__ import annotations

import csv
import uuid
from datetime import date
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable

from sluice.ingest import StageRequest, commit_files, commit_target, stage_file
from sluice.lake.lease import hold_lease, holder_name
from sluice.runs.metastore import engine_for
from sluice.settings import Settings
from sluice.sources.files import list_source_files
from sluice.validate.contracts import find_contract

CONTRACTS = {
    "customers": """
name: customers
owner: crm@example.com
freshness_sla: 1d
primary_key: [customer_id]
partition: {column: signup_date%(retention)s}
columns:
  - {name: customer_id, type: string, term: customer_id}
  - {name: signup_date, type: date}
  - {name: email, type: string, term: email, pii: email}
  - {name: full_name, type: string, pii: person_name}
""",
    "orders": """
name: orders
owner: shop@example.com
freshness_sla: 1d
primary_key: [order_id]
partition: {column: order_date}
columns:
  - {name: order_id, type: int64, min: 1}
  - {name: order_date, type: date}
  - {name: customer_id, type: string, term: customer_id}
  - {name: amount, type: float64, min: 0}
""",
    "tickets": """
name: tickets
owner: support@example.com
freshness_sla: 1d
primary_key: [ticket_id]
partition: {column: opened}
columns:
  - {name: ticket_id, type: string}
  - {name: opened, type: date}
  - {name: contact, type: string, term: email, pii: email}
  - {name: priority, type: int64, min: 1, max: 5}
""",
}


def write_contracts(folder: Path, *, customer_retention: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in CONTRACTS.items():
        retention = f", retention: {customer_retention}" if customer_retention else ""
        (folder / f"{name}.yaml").write_text(text % {"retention": retention} if "%(" in text else text)
    return folder


def ingest(settings: Settings, dataset: str, rows: list[dict[str, object]], *, tag: str = "") -> None:
    """Write ``rows`` as one CSV file and ingest it: valid rows to the lake, the others to the quarantine."""
    run = f"{dataset}-{tag or uuid.uuid4().hex[:8]}"
    src = settings.home / "drop" / run
    src.mkdir(parents=True)
    with (src / f"{run}.csv").open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    req = StageRequest(
        dataset=dataset,
        contract=find_contract(dataset, settings.contracts_root()),
        run_id=run,
        run_dir=str(settings.staging_root() / run),
        lake_uri=f"{settings.lake_root()}/{dataset}",
        ingest_date=date(2026, 3, 1),
    )
    outcomes = [stage_file(s, i, req) for i, s in enumerate(list_source_files(str(src)))]
    engine = engine_for(settings.metadata_db_url())
    with hold_lease(engine, dataset, holder_name(run), ttl_s=30, wait_s=120) as lease:
        commit_files(commit_target(req, settings.quarantine_root()), outcomes, metadata={"run_id": run}, lease=lease)


def customers(emails: list[str], *, day: str = "2026-02-01", start: int = 1) -> list[dict[str, object]]:
    return [
        {"customer_id": f"C{start + i:06d}", "signup_date": day, "email": e, "full_name": f"Person {start + i}"}
        for i, e in enumerate(emails)
    ]


def every_version(uri: str) -> dict[int, pa.Table | None]:
    """Each version time travel lists: its rows, or None when a file it needs is gone (it cannot be read)."""
    table = DeltaTable(uri)
    out: dict[int, pa.Table | None] = {}
    for entry in table.history():
        version = int(entry["version"])
        try:
            out[version] = pa.table(DeltaTable(uri, version=version).to_pyarrow_table())
        except FileNotFoundError:  # a version whose files were removed cannot be read: that is the point
            out[version] = None
    return out


def holds_value(table: pa.Table | None, value: str) -> bool:
    """Whether any string cell (or a quarantine record's value) of ``table`` equals or contains ``value``."""
    if table is None:
        return False
    for row in table.to_pylist():
        for cell in row.values():
            texts = [v for _k, v in cell] if isinstance(cell, list) else [cell]
            if any(isinstance(t, str) and value in t for t in texts):
                return True
    return False
