"""Consumer SLAs from run records: freshness spans, accuracy spans, clipping to the report's range."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sluice.runs.records import RunReport
from sluice.runs.sla import Promise, consumer_sla, sla_report
from sluice.validate.consumers import Consumer

T0 = datetime(2026, 3, 2, tzinfo=timezone.utc)


def run(hour: float, *, read: int = 100, quarantined: int = 0, status: str = "completed", **extra: object) -> RunReport:
    """A run of orders that finished ``hour`` hours after T0, its data as new as its finish unless ``watermark``."""
    finished = T0 + timedelta(hours=hour)
    report = RunReport(
        run_id=f"run-{hour}",
        dataset="orders",
        source="s3://drop/orders",
        env="dev",
        started_at=finished - timedelta(minutes=1),
        finished_at=finished,
        status=status,
        rows_read=read,
        rows_written=read - quarantined,
        rows_quarantined=quarantined,
    )
    for name, value in extra.items():
        setattr(report, name, value)
    return report


def hours(span_start: datetime, span_end: datetime) -> tuple[float, float]:
    return (span_start - T0).total_seconds() / 3600, (span_end - T0).total_seconds() / 3600


def test_a_gap_between_deliveries_longer_than_the_freshness_is_one_span_from_stale_to_the_next_delivery() -> None:
    runs = [run(0), run(1), run(5), run(6), run(6.5, status="failed"), run(9)]
    finance = Consumer(name="finance", freshness=timedelta(hours=2))

    sla = consumer_sla("orders", finance, runs, T0, T0 + timedelta(hours=10))

    assert [hours(d.start, d.end) for d in sla.letdowns] == [(3.0, 5.0), (8.0, 9.0)]  # the failed run delivers nothing
    assert sla.letdowns[0].worst == 4 * 3600 and sla.seconds_let_down == 3 * 3600
    assert all(d.promise is Promise.FRESHNESS and not d.ongoing for d in sla.letdowns)


def test_old_data_delivered_on_time_is_still_stale_by_its_watermark_and_an_open_span_is_ongoing() -> None:
    runs = [run(0), run(1, watermark=T0 - timedelta(hours=5))]
    sla = consumer_sla("orders", Consumer(name="ml", freshness=timedelta(hours=2)), runs, T0, T0 + timedelta(hours=4))

    (span,) = sla.letdowns
    assert hours(span.start, span.end) == (2.0, 4.0) and span.ongoing


def test_a_run_quarantining_too_much_lets_down_until_the_next_run_within_the_limit() -> None:
    runs = [run(0), run(1, quarantined=5), run(2, quarantined=9), run(3, quarantined=1), run(4, quarantined=20)]
    finance = Consumer(name="finance", max_quarantined_share=0.02)

    sla = consumer_sla("orders", finance, runs, T0, T0 + timedelta(hours=6))

    assert [(hours(d.start, d.end), d.worst, d.ongoing) for d in sla.letdowns] == [
        ((1.0, 3.0), 0.09, False),
        ((4.0, 6.0), 0.2, True),
    ]


def test_orphans_are_read_from_the_runs_orphan_reference_warnings() -> None:
    runs = [run(0, warnings={"orphan_reference": 3}), run(1)]
    sla = consumer_sla("orders", Consumer(name="ml", max_orphan_rate=0.01), runs, T0, T0 + timedelta(hours=2))

    assert [(d.promise, hours(d.start, d.end)) for d in sla.letdowns] == [(Promise.ORPHAN_RATE, (0.0, 1.0))]


def test_spans_are_clipped_to_the_range_and_one_still_open_at_its_end_is_ongoing() -> None:
    runs = [run(0), run(5), run(20)]
    sla = consumer_sla(
        "orders",
        Consumer(name="f", freshness=timedelta(hours=1)),
        runs,
        T0 + timedelta(hours=4),
        T0 + timedelta(hours=8),
    )

    assert [(hours(d.start, d.end), d.ongoing) for d in sla.letdowns] == [((4.0, 5.0), False), ((6.0, 8.0), True)]


def test_the_report_covers_every_declared_consumer_even_of_a_dataset_without_runs() -> None:
    consumers = {
        "orders": [Consumer(name="a", freshness=timedelta(hours=1))],
        "customers": [Consumer(name="b", freshness=timedelta(hours=1))],
    }

    found = sla_report([run(0), run(0.5)], consumers, T0, T0 + timedelta(hours=1))

    assert [(s.dataset, s.consumer, s.letdowns) for s in found] == [("customers", "b", []), ("orders", "a", [])]


@pytest.mark.parametrize(
    "bad", [{"name": "x", "freshness": "soon"}, {"name": "a b"}, {"name": "x", "max_orphan_rate": 2}]
)
def test_a_consumer_with_a_bad_field_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Consumer.model_validate(bad)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 48), st.integers(0, 100), st.sampled_from(["completed", "failed"])), max_size=20),
    st.integers(1, 12),
)
def test_spans_never_overlap_and_stay_inside_the_range(raw: list[tuple[float, int, str]], fresh_hours: int) -> None:
    runs = [run(h, quarantined=q, status=s) for h, q, s in raw]
    consumer = Consumer(name="c", freshness=timedelta(hours=fresh_hours), max_quarantined_share=0.1)
    since, until = T0 + timedelta(hours=6), T0 + timedelta(hours=40)

    sla = consumer_sla("orders", consumer, runs, since, until)

    for promise in Promise:
        spans = [d for d in sla.letdowns if d.promise is promise]
        assert all(since <= d.start < d.end <= until for d in spans)
        assert all(a.end <= b.start for a, b in itertools.pairwise(spans))
    assert sla.seconds_let_down <= 2 * (until - since).total_seconds()
