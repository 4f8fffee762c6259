"""Timestamp normalisation: mixed formats and zones to UTC, DST gaps reported."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from sluice.validate.timestamps import parse_timestamps

FORMATS = ["ISO8601", "%d/%m/%Y %H:%M:%S", "epoch_ms"]


def _parse(values, tz="Europe/Berlin"):
    return parse_timestamps(pa.array(values, pa.string()), formats=FORMATS, tz=tz)


def test_mixed_formats_and_offsets_normalise_to_utc():
    got = _parse(
        [
            "2024-03-05T10:00:00Z",
            "2024-03-05 10:00:00",
            "2024-03-05T10:00:00+02:00",
            "05/03/2024 11:00:00",
            "1709632800000",
            "2024-03-05T10:00:00.5-0500",
            "2024-03-05",
        ]
    )
    utc = timezone.utc
    assert got.values.to_pylist() == [
        datetime(2024, 3, 5, 10, tzinfo=utc),
        datetime(2024, 3, 5, 9, tzinfo=utc),
        datetime(2024, 3, 5, 8, tzinfo=utc),
        datetime(2024, 3, 5, 10, tzinfo=utc),
        datetime(2024, 3, 5, 10, tzinfo=utc),
        datetime(2024, 3, 5, 15, 0, 0, 500000, tzinfo=utc),
        datetime(2024, 3, 4, 23, tzinfo=utc),
    ]
    assert not got.unparsed.any() and not got.ambiguous.any()


def test_unparseable_values_are_flagged_and_empty_values_are_not():
    got = _parse(["garbage", "", None, "2024-13-05T10:00:00Z", "31/02/2024 10:00:00"])
    assert got.unparsed.tolist() == [True, False, False, True, True]
    assert got.values.null_count == 5


def test_local_times_in_a_dst_gap_or_overlap_are_ambiguous_not_guessed():
    got = _parse(["2024-03-31 02:30:00", "2024-10-27 02:30:00", "2024-10-27 04:30:00"])
    assert got.ambiguous.tolist() == [True, True, False]
    assert got.values.to_pylist()[:2] == [None, None]


def test_epoch_values_outside_a_sane_range_are_not_accepted():
    got = _parse(["99999999999999999"])
    assert got.unparsed.tolist() == [True]


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2199, 12, 31), timezones=st.just(timezone.utc)),
    st.integers(min_value=-12 * 60, max_value=14 * 60).map(lambda m: timedelta(minutes=m - m % 15)),
)
def test_any_instant_written_with_any_offset_parses_back_to_the_same_utc_instant(instant, offset):
    instant = instant.replace(microsecond=0)
    local = instant.astimezone(timezone(offset))
    texts = [
        local.isoformat(),
        local.isoformat().replace("T", " "),
        instant.strftime("%Y-%m-%dT%H:%M:%SZ"),
        str(int(instant.timestamp() * 1000)),
    ]
    got = parse_timestamps(pa.array(texts), formats=FORMATS, tz="UTC")
    assert got.values.to_pylist() == [instant] * 4


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=30), max_size=40))
def test_arbitrary_text_never_raises_and_every_value_is_either_parsed_flagged_or_empty(texts):
    got = parse_timestamps(pa.array(texts, pa.string()), formats=FORMATS, tz="Europe/Berlin")
    parsed = [v is not None for v in got.values.to_pylist()]
    for text, ok, bad, amb in zip(texts, parsed, got.unparsed, got.ambiguous, strict=True):
        empty = text.strip() == ""
        assert sum([ok, bool(bad), bool(amb), empty and not ok]) == 1 or (empty and not (ok or bad or amb))


def test_every_impossible_day_of_month_is_refused_and_every_real_one_kept():
    import calendar

    texts, valid = [], []
    for year in (2023, 2024):
        for month in range(1, 13):
            last = calendar.monthrange(year, month)[1]
            for day in range(27, 32):
                texts.append(f"{day:02d}/{month:02d}/{year} 23:30:00")
                valid.append(day <= last)
    got = parse_timestamps(pa.array(texts), formats=["%d/%m/%Y %H:%M:%S"], tz="UTC")
    assert [not bad for bad in got.unparsed] == valid
