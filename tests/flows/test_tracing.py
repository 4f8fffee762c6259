"""A file-ingestion run is one trace: Prefect's flow-run span, the flow's span, task runs, and per file the
read, validate and write spans of its chunks, then the commit; each with the run id and dataset."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sluice.telemetry import stages
from tests.factories import mixed_orders, write_csv
from tests.spans import children, memory_spans, named
from tests.standins.otlp_receiver import OtlpReceiver

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
FILES = 3


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    yield from memory_spans()


def _source(tmp_path: Path) -> Path:
    for i in range(FILES):
        write_csv(tmp_path / "src" / f"orders-{i}.csv", mixed_orders(20, start=1 + i * 1000))
    return tmp_path / "src"


def _attrs(span: ReadableSpan) -> dict[str, object]:
    return dict(span.attributes or {})


def test_a_file_run_is_one_trace_with_a_span_per_stage_and_the_run_id_on_each(
    prefect_api, sluice_home, tmp_path, spans: InMemorySpanExporter
) -> None:
    from flows.ingest_files import ingest_files
    from flows.runners import dask_task_runner

    source = _source(tmp_path)
    report = ingest_files.with_options(task_runner=dask_task_runner(sluice_home))("orders", str(source))

    finished = spans.get_finished_spans()
    (flow,) = named(finished, "ingest-files")
    assert _attrs(flow) == {"sluice.flow": "ingest-files", "sluice.run_id": report.run_id, "sluice.dataset": "orders"}
    prefect_run = [s for s in finished if flow.parent and s.get_span_context().span_id == flow.parent.span_id]
    assert len(prefect_run) == 1 and _attrs(prefect_run[0])["prefect.run.id"] == report.run_id
    assert _attrs(prefect_run[0])["sluice.run_id"] == report.run_id
    trace_id = flow.get_span_context().trace_id
    ours = [s for s in finished if s.name.startswith("stage.")]
    assert ours and all(s.get_span_context().trace_id == trace_id for s in ours)
    assert all(_attrs(s)["sluice.run_id"] == report.run_id and _attrs(s)["sluice.dataset"] == "orders" for s in ours)
    batches = named(finished, stages.BATCH)
    assert sorted(str(_attrs(b)["sluice.source"]).rsplit("/", 1)[-1] for b in batches) == [
        f"orders-{i}.csv" for i in range(FILES)
    ]
    for batch in batches:
        kinds = [s.name for s in children(finished, batch)]
        assert {stages.READ, stages.VALIDATE, stages.WRITE} == set(kinds)
        assert _attrs(batch)[stages.ROWS] == sum(
            int(_attrs(s)[stages.ROWS]) for s in children(finished, batch) if s.name == stages.VALIDATE
        )
    assert sum(int(_attrs(s)[stages.ROWS]) for s in named(finished, stages.VALIDATE)) == report.rows_read
    assert (
        sum(int(_attrs(s)["sluice.quarantined"]) for s in named(finished, stages.VALIDATE)) == report.rows_quarantined
    )
    (commit,) = named(finished, stages.COMMIT)
    assert _attrs(commit)["sluice.batches"] == FILES


CHILD = """
import json, sys
from flows.ingest_files import ingest_files
from flows.runners import dask_task_runner
report = ingest_files.with_options(task_runner=dask_task_runner())("orders", sys.argv[1])
from opentelemetry import trace
trace.get_tracer_provider().force_flush()
print(json.dumps({"run_id": report.run_id, "rows_read": report.rows_read}))
"""


def test_a_flow_run_exports_its_spans_to_an_otlp_http_receiver(prefect_api, sluice_home, tmp_path) -> None:
    source = _source(tmp_path)
    receiver = OtlpReceiver().start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env |= {
        "PYTHONPATH": str(ROOT),
        "PREFECT_API_URL": prefect_api,
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_SERVICE_NAME": "sluice-test",
    }
    try:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(source)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        receiver.stop()
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    received = receiver.spans()
    assert {s.service for s in received} == {"sluice-test"}
    names = [s.name for s in received]
    assert {"ingest-files", stages.BATCH, stages.READ, stages.VALIDATE, stages.WRITE, stages.COMMIT} <= set(names)
    assert names.count(stages.BATCH) == FILES
    (flow,) = [s for s in received if s.name == "ingest-files"]
    assert flow.attributes["sluice.run_id"] == report["run_id"]
    assert {s.trace_id for s in received if s.name.startswith("stage.")} == {flow.trace_id}
    rows = sum(int(str(s.attributes[stages.ROWS])) for s in received if s.name == stages.VALIDATE)
    assert rows == report["rows_read"]
    assert any(s.attributes.get("prefect.run.id") == report["run_id"] for s in received)
