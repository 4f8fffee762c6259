"""The main job: its summary fits 80 columns; it creates the work pool only when missing."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from uuid import uuid4

import pytest
from rich.console import Console

from flows.demo import _summary, ensure_work_pool
from tests.ops.factories import run_report

PREFECT = str(Path(sys.executable).parent / "prefect")


def test_the_summary_prints_every_count_whole_at_80_columns() -> None:
    big = run_report("r1", dataset="customers", rows_read=20_000_000, rows_written=19_012_345)
    big.rows_quarantined, big.rows_duplicate, big.lake_version = 600_123, 387_532, 1_234
    console = Console(width=80, record=True)

    console.print(_summary([big, run_report("r2")]))

    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    for number in ("20,000,000", "19,012,345", "600,123", "387,532", "1234", "customers"):
        assert number in text


@pytest.mark.integration
def test_make_run_creates_the_work_pool_once_and_leaves_an_existing_one_as_it_is(prefect_api, tmp_path) -> None:
    from prefect import get_client
    from prefect.client.schemas.actions import WorkPoolUpdate

    pool = f"sluice-process-{uuid4().hex[:8]}"
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "PREFECT_HOME": str(tmp_path / "prefect-home")}

    assert ensure_work_pool(PREFECT, env, pool) is True
    with get_client(sync_client=True) as client:
        template = client.read_work_pool(pool).base_job_template
        template["variables"]["properties"]["env"]["default"] = {"SET_BY": "the operator"}
        client.update_work_pool(pool, WorkPoolUpdate(base_job_template=template, concurrency_limit=3))
        try:
            assert ensure_work_pool(PREFECT, env, pool) is False
            found = client.read_work_pool(pool)
        finally:
            client.delete_work_pool(pool)

    assert found.type == "process" and found.concurrency_limit == 3
    assert found.base_job_template["variables"]["properties"]["env"]["default"] == {"SET_BY": "the operator"}
