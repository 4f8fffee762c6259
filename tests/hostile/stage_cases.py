"""Stage hostile files in this process and print one JSON line per file: ``python -m tests.hostile.stage_cases``.

Arguments: a work folder, then the source files. Before each file a line
``starting <file>`` goes to standard error, so a crash names its culprit.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

from sluice.ingest import StageRequest, stage_file
from sluice.lake import staging
from sluice.settings import get_settings
from sluice.sources.files import list_source_files
from sluice.validate.contracts import find_contract


def _staged(run_dir: Path, column: str, kind: str) -> list[str]:
    folder = "valid" if kind == "valid" else "quarantine"
    values: list[str] = []
    for path in sorted(run_dir.glob(f"*/{folder}/**/*.arrow")):
        table = staging.read(path)
        if column in table.column_names:
            values.extend(str(v) for v in table.column(column).to_pylist() if v is not None)
    return values


def main(work: Path, sources: list[str]) -> None:
    settings = get_settings()
    contract = find_contract("orders", settings.contracts_root())
    for order, uri in enumerate(sources):
        print(f"starting {uri}", file=sys.stderr, flush=True)
        run_dir = work / "runs" / Path(uri).parent.name
        req = StageRequest(
            dataset="orders",
            contract=contract,
            run_id=f"hostile-{order}",
            run_dir=str(run_dir),
            lake_uri=str(work / "lake" / "orders"),
            ingest_date=date(2024, 11, 1),
            chunk_rows=settings.rows_per_chunk(),
        )
        src = next(s for s in list_source_files(str(Path(uri).parent), Path(uri).name) if s.uri.endswith(uri))
        out = stage_file(src, order, req)
        print(
            json.dumps(
                {
                    "uri": uri,
                    "status": out.status.value,
                    "error": out.error,
                    "rows_read": out.rows_read,
                    "rows_valid": out.rows_valid,
                    "rows_quarantined": out.rows_quarantined,
                    "reasons": sorted(set(_staged(run_dir, "reason", "quarantine"))),
                    "warnings": out.warnings,
                    "emails": _staged(run_dir, "email", "valid"),
                    "order_ts": _staged(run_dir, "order_ts", "valid"),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:])
