"""``SLUICE_LOG_FORMAT=json``: every line a real flow run writes is a JSON object with its run's fields."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import mixed_orders, write_csv

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
CHILD = """
import json, logging, sys
from flows.ingest_files import ingest_files
from flows.runners import dask_task_runner
report = ingest_files.with_options(task_runner=dask_task_runner())(sys.argv[1], sys.argv[2])
logging.getLogger("sluice.probe").warning("after the run\\nsecond line \\udcff")
print(json.dumps({"run_id": report.run_id}))
"""


def test_a_flow_run_logs_one_json_object_a_line_with_run_flow_task_and_dataset(
    prefect_api, sluice_home, tmp_path
) -> None:
    write_csv(tmp_path / "src" / "orders-1.csv", mixed_orders(20))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PREFECT_LOGGING"))}
    env |= {
        "PYTHONPATH": str(ROOT),
        "PREFECT_API_URL": prefect_api,
        "SLUICE_LOG_FORMAT": "json",
        "PREFECT_LOGGING_LEVEL": "INFO",
    }
    done = subprocess.run(
        [sys.executable, "-c", CHILD, "orders", str(tmp_path / "src")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    run_id = json.loads(done.stdout.strip().splitlines()[-1])["run_id"]
    not_json = [line for line in done.stderr.splitlines() if not _is_json(line)]
    assert not_json == []
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert lines and all({"time", "severity", "logger", "message"} <= line.keys() for line in lines)
    flow_lines = [line for line in lines if line.get("run_id") == run_id]
    assert any("ingesting 1 file(s) of orders" in line["message"] for line in flow_lines)
    assert [line for line in flow_lines if line.get("dataset") != "orders"] == []
    assert all(line["flow"] == "ingest-files" for line in flow_lines)
    assert {line["task"] for line in flow_lines if "task" in line} >= {"stage-file-group"}
    assert any(line["severity"] == "INFO" and line["logger"] == "prefect.flow_runs" for line in flow_lines)
    (probe,) = [line for line in lines if line["logger"] == "sluice.probe"]
    assert probe["message"] == "after the run\nsecond line \udcff" and "run_id" not in probe


def _is_json(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False
