"""Reading wide CSV files and store series into one frame, and preparing it."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest

from ops.correlate.frame import (
    frame_from_series,
    parse_instant,
    prepare_frame,
    read_metrics_csv,
)
from ops.errors import CorrelateInputError
from ops.metrics.models import Series, to_ns
from tests.ops.correlate.factories import T0, fault_frame, write_csv


@pytest.mark.parametrize("iso", [False, True])
def test_a_csv_reads_with_unix_or_iso_times(tmp_path, iso):
    fault = fault_frame(rows=50, failure=30)

    frame = read_metrics_csv(write_csv(fault, tmp_path / "m.csv", iso=iso))

    assert frame.names == fault.frame.names
    assert (frame.times == fault.frame.times).all()
    np.testing.assert_allclose(frame.values, fault.frame.values)


def test_rows_are_sorted_by_time(tmp_path):
    (tmp_path / "m.csv").write_text("time,a\n3,30\n1,10\n2,20\n")

    frame = read_metrics_csv(tmp_path / "m.csv")

    assert frame.values.tolist() == [[10.0, 20.0, 30.0]]


@pytest.mark.parametrize(
    "text,message",
    [
        ("time,a,b\n1,2,x\n2,3,4\n", r"non-numeric values in 1 column\(s\): b \('x' on data row 1\)"),
        ("time,a\n1,2\n2,3,4\n", "rows do not match the header"),
        ("a,b\n1,2\n", "no time column"),
        ("time,a,a\n1,2,3\n", "column names repeat: a"),
        ("time,a\nnot-a-time,2\n", "time 'not-a-time' on data row 1 does not parse"),
        ("time,a\n1,2\n1,3\n", "1 time\\(s\\) repeat"),
        ("", "is empty"),
        ("time,a\n", "a header but no rows"),
        ("time\n1\n", "no metric columns"),
    ],
)
def test_bad_files_are_refused_with_a_reason(tmp_path, text, message):
    (tmp_path / "m.csv").write_text(text)

    with pytest.raises(CorrelateInputError, match=message):
        read_metrics_csv(tmp_path / "m.csv")


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(CorrelateInputError, match="no such file"):
        read_metrics_csv(tmp_path / "nope.csv")


@pytest.mark.parametrize(
    "text,expected",
    [
        ("1652565600", datetime(2022, 5, 14, 22, 0, tzinfo=timezone.utc)),
        ("2022-05-14T22:00:00Z", datetime(2022, 5, 14, 22, 0, tzinfo=timezone.utc)),
        ("2022-05-15T00:00:00+02:00", datetime(2022, 5, 14, 22, 0, tzinfo=timezone.utc)),
        ("2022-05-14 22:00:00", datetime(2022, 5, 14, 22, 0, tzinfo=timezone.utc)),
    ],
)
def test_instants_are_unix_seconds_or_iso(text, expected):
    assert parse_instant(text) == expected


def test_an_instant_that_is_neither_is_refused():
    with pytest.raises(CorrelateInputError, match="is not a time"):
        parse_instant("yesterday")


def test_store_series_share_one_grid_named_by_the_labels_that_differ():
    base = to_ns(T0)
    times = base + np.arange(0, 10_000_000_000, 2_000_000_000)
    a = Series("sluice_process_rss_bytes", {"host": "h", "worker": "pid-1"}, times, np.arange(5.0))
    b = Series("sluice_process_rss_bytes", {"host": "h", "worker": "pid-2"}, times + 1_000_000_000, np.arange(5.0))

    frame = frame_from_series([a, b])

    assert frame.names == ['sluice_process_rss_bytes{worker="pid-1"}', 'sluice_process_rss_bytes{worker="pid-2"}']
    assert frame.rows == 5 and int(frame.times[1] - frame.times[0]) == 2_000_000_000  # the sampling interval
    assert frame.values.tolist() == [[0.0, 1.0, 2.0, 3.0, 4.0]] * 2


def test_no_points_at_all_is_an_error():
    with pytest.raises(CorrelateInputError, match="no metric points"):
        frame_from_series([])


def test_prepare_fills_gaps_and_turns_counters_into_rates():
    fault = fault_frame(rows=100, failure=60)
    fault.frame.values[0, 10:13] = np.nan

    prepared = prepare_frame(fault.frame)

    assert np.isfinite(prepared.values).all()
    j = prepared.column("net_rx_bytes_total")
    assert prepared.rate[j] and prepared.values[j].min() >= 1e5 and prepared.values[j].max() <= 2e5
    assert not prepared.rate[prepared.column("db_mem")]
