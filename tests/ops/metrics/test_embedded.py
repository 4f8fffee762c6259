from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest

from ops.metrics import models
from ops.metrics.errors import SelectorError
from ops.metrics.models import Sample, Selector, Series, to_ns
from tests.ops.metrics.factories import (
    SECOND_NS,
    T0,
    every_second,
    sample,
    seconds,
    store_at,
)

ALL = Selector()


def _values(store, text, start=T0, end=None, step=None):
    end = end or T0 + seconds(3600)
    return {(s.metric, s.key): s.values.tolist() for s in store.query_range(Selector.parse(text), start, end, step)}


def test_written_samples_read_back_exactly(tmp_path):
    store = store_at(tmp_path)
    at = datetime(2026, 3, 5, 10, 0, 0, 123456, tzinfo=timezone.utc)

    written = store.write(
        [
            sample(value=10, at=at),
            sample(value=12.5, at=at + seconds(60)),
            sample("sluice_rows_written", 7, at=at, dataset="orders"),
        ]
    )

    assert written == 3
    [series] = store.query_range(Selector.parse("sluice_rows_read"), T0, T0 + seconds(3600))
    assert (series.metric, series.labels) == ("sluice_rows_read", {"dataset": "orders"})
    assert series.timestamps.tolist() == [to_ns(at), to_ns(at) + 60 * SECOND_NS]
    assert series.values.tolist() == [10.0, 12.5]
    assert series.points()[0] == ("2026-03-05T10:00:00.123456+00:00", 10.0)


def test_series_lists_points_and_time_range(tmp_path):
    store = store_at(tmp_path)
    store.write([sample(value=v, at=T0 + seconds(i)) for i, v in enumerate([1, 2, 3])])

    [info] = store.series(ALL)

    assert (info.metric, info.labels, info.points) == ("sluice_rows_read", {"dataset": "orders"}, 3)
    assert (info.first, info.last) == (T0, T0 + seconds(2))
    assert store.series(ALL, start=T0 + seconds(1), end=T0 + seconds(1))[0].points == 1


@pytest.mark.parametrize(
    ("selector", "datasets"),
    [
        ('m{dataset="orders"}', ["orders"]),
        ('m{dataset!="orders"}', ["customers", "payments"]),
        ('m{dataset=~"c.*|p.*"}', ["customers", "payments"]),
        ('m{dataset!~"c.*"}', ["orders", "payments"]),
        ('m{dataset=~"c.*",environment="prod"}', []),
        ('{dataset="payments"}', ["payments"]),
        ("m", ["customers", "orders", "payments"]),
    ],
)
def test_label_matchers_select_series(tmp_path, selector, datasets):
    store = store_at(tmp_path)
    store.write([sample("m", 1, dataset=d, environment="dev") for d in ("orders", "customers", "payments")])

    found = store.query_range(Selector.parse(selector), T0, T0)

    assert sorted(s.labels["dataset"] for s in found) == datasets
    assert sorted(i.labels["dataset"] for i in store.series(Selector.parse(selector))) == datasets


def test_name_regex_selects_across_metrics(tmp_path):
    store = store_at(tmp_path)
    store.write([sample("sluice_rows_read"), sample("sluice_rows_written"), sample("sluice_run_failed")])

    found = store.query_range(Selector.parse('{__name__=~"sluice_rows_.*"}'), T0, T0)

    assert [s.metric for s in found] == ["sluice_rows_read", "sluice_rows_written"]


def test_time_range_is_closed_and_crosses_day_partitions(tmp_path):
    store = store_at(tmp_path)
    midnight = datetime(2026, 3, 6, tzinfo=timezone.utc)
    store.write([sample(value=i, at=midnight + seconds(i * 60)) for i in range(-3, 4)])

    values = _values(store, "sluice_rows_read", midnight - seconds(120), midnight + seconds(120))

    assert list(values.values()) == [[-2.0, -1.0, 0.0, 1.0, 2.0]]
    assert sorted(p.name for p in (tmp_path / "metrics" / "metric=sluice_rows_read").iterdir()) == [
        "date=2026-03-05",
        "date=2026-03-06",
    ]


def test_step_keeps_the_last_point_of_each_step_stamped_at_its_end(tmp_path):
    store = store_at(tmp_path)
    store.write_series([every_second("m", {}, np.arange(10.0), start=T0 - seconds(2))])  # T0-2s .. T0+7s

    [series] = store.query_range(Selector.parse("m"), T0, T0 + seconds(6), seconds(3))

    # steps end at T0, T0+3s and T0+6s and cover (T0-3s, T0], (T0, T0+3s], (T0+3s, T0+6s]
    assert series.timestamps.tolist() == [to_ns(T0 + seconds(s)) for s in (0, 3, 6)]
    assert series.values.tolist() == [2.0, 5.0, 8.0]


def test_step_leaves_empty_steps_out(tmp_path):
    store = store_at(tmp_path)
    store.write([sample("m", 1, at=T0 + seconds(5)), sample("m", 2, at=T0 + seconds(50))])

    [series] = store.query_range(Selector.parse("m"), T0, T0 + seconds(60), seconds(10))

    assert series.points() == [("2026-03-05T10:00:10+00:00", 1.0), ("2026-03-05T10:00:50+00:00", 2.0)]


def test_the_last_write_of_a_point_wins_and_is_counted_once(tmp_path):
    store = store_at(tmp_path)
    store.write([sample(value=1), sample(value=2, at=T0 + seconds(1))])
    store.write([sample(value=3)])

    assert _values(store, "sluice_rows_read") == {("sluice_rows_read", '{"dataset":"orders"}'): [3.0, 2.0]}
    assert store.series(ALL)[0].points == 2


def test_thousands_of_series_round_trip_with_whole_array_operations(tmp_path, monkeypatch):
    store = store_at(tmp_path)
    n_series, n_points = 2_000, 100
    written = [
        every_second(
            "sluice_throughput_rows_per_second",
            {"dataset": f"d{i:04d}", "host": f"h{i % 4}"},
            np.arange(n_points) * 10.0 + i,
        )
        for i in range(n_series)
    ]

    def no_per_point_objects(self: Sample) -> None:
        raise AssertionError("a Sample was built: the store looped over points")

    monkeypatch.setattr(models.Sample, "__post_init__", no_per_point_objects)
    assert store.write_series(written) == n_series * n_points
    end = T0 + seconds(n_points)
    everything = store.query_range(Selector.parse("sluice_throughput_rows_per_second"), T0, end)
    host_two = store.query_range(Selector.parse('sluice_throughput_rows_per_second{host="h2"}'), T0, end)
    downsampled = store.query_range(Selector.parse('{dataset=~"d000[0-9]"}'), T0, end, seconds(10))
    infos = store.series(ALL)

    assert len(everything) == n_series
    by_dataset = {s.labels["dataset"]: s for s in everything}
    for original in written[::97]:
        assert np.array_equal(by_dataset[original.labels["dataset"]].values, original.values)
        assert np.array_equal(by_dataset[original.labels["dataset"]].timestamps, original.timestamps)
    assert len(host_two) == n_series // 4 and all(s.labels["host"] == "h2" for s in host_two)
    assert len(downsampled) == 10
    # steps end at seconds 0, 10, ..., 100; each keeps its last second: 0, 10, ..., 90, then 99
    assert downsampled[3].values.tolist() == [3.0 + 100 * k for k in range(10)] + [993.0]
    assert len(infos) == n_series and {i.points for i in infos} == {n_points}


def test_compaction_merges_part_files_and_keeps_every_point(tmp_path):
    store = store_at(tmp_path)
    for i in range(5):
        store.write([sample(value=i, at=T0 + seconds(i)), sample(value=i, at=T0)])
    partition = tmp_path / "metrics" / "metric=sluice_rows_read" / "date=2026-03-05"
    assert len(list(partition.glob("part-*.parquet"))) == 5

    result = store.compact()

    assert (result.partitions, result.files_before, result.files_after) == (1, 5, 1)
    assert len(list(partition.glob("part-*.parquet"))) == 1
    assert list(_values(store, "sluice_rows_read").values()) == [[4.0, 1.0, 2.0, 3.0, 4.0]]


def test_a_write_compacts_a_partition_with_too_many_files(tmp_path):
    store = store_at(tmp_path, compact_files=4)
    for i in range(9):
        store.write([sample(value=i, at=T0 + seconds(i))])

    partition = tmp_path / "metrics" / "metric=sluice_rows_read" / "date=2026-03-05"
    assert len(list(partition.glob("part-*.parquet"))) < 4
    assert list(_values(store, "sluice_rows_read").values()) == [[float(i) for i in range(9)]]


def test_an_empty_store_has_no_series_and_writes_nothing_for_nothing(tmp_path):
    store = store_at(tmp_path)

    assert store.series(ALL) == []
    assert store.query_range(ALL, T0, T0 + seconds(60), seconds(10)) == []
    assert store.write([]) == 0 and store.write_series([]) == 0
    assert not (tmp_path / "metrics").exists()


def test_series_with_an_invalid_metric_name_are_refused(tmp_path):
    with pytest.raises(SelectorError, match="invalid metric name"):
        store_at(tmp_path).write_series([Series("rows read", {}, np.array([0]), np.array([1.0]))])
