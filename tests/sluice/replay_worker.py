"""A quarantine to replay, and one replay as a program: a process of a concurrency test.

    python -m tests.sluice.replay_worker HOME CONTRACTS_DIR [release|discard ROW_ID]

replays the orders' quarantine (or releases or discards one row) and prints the outcome as one JSON line:
the report, the number of rows discarded, or the refusal.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
from datetime import date
from pathlib import Path

from sluice.ingest import StageRequest, commit_files, commit_target, stage_file
from sluice.lake.table import table_uri
from sluice.settings import Settings, get_settings
from sluice.sources.files import list_source_files
from sluice.validate.contracts import find_contract
from tests.factories import OrderBatch, write_csv

STATUSES = "allowed_values: [placed, paid, shipped, delivered, cancelled, returned]"


def own_contracts(folder: Path) -> Path:
    """A copy of the shipped contracts in ``folder``, to fix as a test likes."""
    shutil.copytree(Settings().contracts_root(), folder)
    return folder


def widen_statuses(contracts: Path, *extra: str) -> None:
    """The orders contract fixed: it allows the order statuses ``extra`` too."""
    path = contracts / "orders.yaml"
    text = path.read_text()
    assert STATUSES in text
    path.write_text(text.replace(STATUSES, STATUSES[:-1] + "".join(f", {s}" for s in extra) + "]"))


def ingest(settings: Settings, source: Path, batch: OrderBatch, run_id: str = "ingest-1") -> None:
    """Stage and commit ``batch`` as one CSV file of orders, as an ingestion run does."""
    path = write_csv(source / f"{run_id}.csv", batch)
    req = StageRequest(
        dataset="orders",
        contract=find_contract("orders", settings.contracts_root()),
        run_id=run_id,
        run_dir=str(settings.staging_root() / run_id),
        lake_uri=table_uri(settings.lake_root(), "orders"),
        ingest_date=date(2024, 11, 1),
        chunk_rows=1_000,
    )
    outcomes = [stage_file(src, i, req) for i, src in enumerate(list_source_files(str(path)))]
    commit_files(commit_target(req, settings.quarantine_root()), outcomes, metadata={"run_id": run_id})


def main() -> None:
    home, contracts, *decision = sys.argv[1:]
    os.environ["SLUICE_HOME"], os.environ["SLUICE_CONTRACTS_DIR"] = home, contracts
    from sluice.lake.quarantine_ledger import UnknownRowError
    from sluice.replay import ReplayRequest, discard, release, replay

    settings = get_settings(fresh=True)
    try:
        if not decision:
            outcome: object = dataclasses.asdict(replay(ReplayRequest("orders"), settings))
        elif decision[0] == "release":
            outcome = dataclasses.asdict(release("orders", decision[1:], "worker", settings))
        else:
            outcome = {"discarded": discard("orders", decision[1:], "worker", settings)}
    except UnknownRowError as exc:
        outcome = {"refused": str(exc)}
    print(json.dumps(outcome))


if __name__ == "__main__":
    main()
