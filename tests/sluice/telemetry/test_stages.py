"""Stage spans: the run id and dataset on each, a read span per chunk read, the exhausted read marked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sluice.telemetry import stages
from tests.spans import EXPORTER, children, memory_spans, named


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    yield from memory_spans()


def test_a_stage_span_carries_the_run_id_dataset_and_extra_attributes(spans: InMemorySpanExporter) -> None:
    with stages.stage(stages.COMMIT, "run-1", "orders", batches=3) as span:
        span.set_attribute("sluice.skipped", 1)
    (done,) = spans.get_finished_spans()
    assert done.name == "stage.commit"
    assert dict(done.attributes or {}) == {
        "sluice.run_id": "run-1",
        "sluice.dataset": "orders",
        "sluice.batches": 3,
        "sluice.skipped": 1,
    }


@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=8))
def test_each_chunk_read_is_a_span_of_its_rows_under_the_current_span(sizes: list[int]) -> None:
    next(memory_spans())  # hypothesis runs examples inside one test: the exporter is cleared for each
    with stages.stage(stages.BATCH, "run-2", "orders"):
        got = list(stages.traced_reads(iter(sizes), "run-2", "orders", lambda n: n))
    finished = EXPORTER.get_finished_spans()
    (batch,) = named(finished, stages.BATCH)
    reads = children(finished, batch)
    assert got == sizes
    assert [s.name for s in reads] == [stages.READ] * (len(sizes) + 1)
    assert [(s.attributes or {}).get(stages.ROWS) for s in reads[:-1]] == sizes
    assert (reads[-1].attributes or {}).get("sluice.exhausted") is True
    assert all((s.attributes or {})[stages.RUN_ID] == "run-2" for s in reads)


def test_a_reader_that_fails_ends_its_read_span_with_the_error(spans: InMemorySpanExporter) -> None:
    def broken() -> Iterator[int]:
        yield 5
        raise OSError("truncated gzip")

    with pytest.raises(OSError, match="truncated"):
        list(stages.traced_reads(broken(), "run-3", "orders", lambda n: n))
    reads = named(spans.get_finished_spans(), stages.READ)
    assert len(reads) == 2
    assert not reads[1].status.is_ok and reads[1].events[0].name == "exception"
