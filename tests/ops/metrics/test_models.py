from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ops.metrics.errors import DurationError, SelectorError
from ops.metrics.models import (
    Matcher,
    MatchOp,
    Sample,
    Selector,
    Series,
    from_ns,
    labels_from_key,
    labels_key,
    to_ns,
)
from ops.metrics.timerange import TimeRange, duration_text, parse_duration, parse_time

NOW = datetime(2026, 3, 5, 12, 0, tzinfo=timezone.utc)


def test_selector_parses_metric_and_all_four_operators():
    selector = Selector.parse('sluice_rows_read{ dataset="orders", env!="dev",host=~"web-.*" , worker!~"w[0-9]",}')

    assert selector == Selector(
        "sluice_rows_read",
        (
            Matcher("dataset", MatchOp.EQUAL, "orders"),
            Matcher("env", MatchOp.NOT_EQUAL, "dev"),
            Matcher("host", MatchOp.REGEX, "web-.*"),
            Matcher("worker", MatchOp.NOT_REGEX, "w[0-9]"),
        ),
    )


@pytest.mark.parametrize(
    ("text", "metric", "labels", "expected"),
    [
        ('m{dataset="orders"}', "m", {"dataset": "orders"}, True),
        ('m{dataset="orders"}', "other", {"dataset": "orders"}, False),
        ('m{dataset!="orders"}', "m", {"dataset": "orders"}, False),
        ('m{dataset!="orders"}', "m", {}, True),
        ('m{host=~"web-.*"}', "m", {"host": "web-1"}, True),
        ('m{host=~"web"}', "m", {"host": "web-1"}, False),  # anchored at both ends, as in PromQL
        ('m{host!~"web-.*"}', "m", {"host": "db-1"}, True),
        ('m{worker=""}', "m", {"host": "a"}, True),  # an absent label matches as ""
        ('{__name__=~"sluice_.*"}', "sluice_rows_read", {}, True),
        ('{__name__=~"sluice_.*"}', "up", {}, False),
    ],
)
def test_selector_matching(text, metric, labels, expected):
    assert Selector.parse(text).matches(metric, labels) is expected


def test_selector_unescapes_quoted_values_and_accepts_single_quotes():
    selector = Selector.parse(r"""m{a="say \"hi\"", b='it\'s', c=~"x\.y"}""")

    assert [m.value for m in selector.matchers] == ['say "hi"', "it's", r"x\.y"]
    assert selector.matches("m", {"a": 'say "hi"', "b": "it's", "c": "x.y"})
    assert not selector.matches("m", {"a": 'say "hi"', "b": "it's", "c": "xzy"})


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty selector"),
        ("m{", "expected a label name at position 2"),
        ("m{dataset}", "expected one of =, !=, =~, !~"),
        ("m{dataset=orders}", "expected a quoted value after dataset="),
        ('m{a="x" b="y"}', "expected ',' or '}'"),
        ("1metric", "expected a metric name or '{'"),
        ('m{a="x"} trailing', "expected '{' or the end"),
        ('m{a=~"("}', "invalid regular expression"),
    ],
)
def test_bad_selectors_say_where_and_what(text, fragment):
    with pytest.raises(SelectorError) as raised:
        Selector.parse(text)

    assert fragment in str(raised.value)
    assert raised.value.hint


_names = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
_values = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
_matchers = st.builds(Matcher, _names, st.sampled_from([MatchOp.EQUAL, MatchOp.NOT_EQUAL]), _values)


@given(st.one_of(st.none(), _names), st.lists(_matchers, max_size=4).map(tuple))
def test_selector_promql_round_trips(metric, matchers):
    selector = Selector(metric, matchers)

    if metric is None and not matchers:
        assert Selector.parse(selector.promql()).matches("anything", {})
    else:
        assert Selector.parse(selector.promql()) == selector


@given(st.dictionaries(_names, _values, max_size=6))
def test_labels_key_is_stable_and_reversible(labels):
    shuffled = dict(reversed(list(labels.items())))

    assert labels_key(shuffled) == labels_key(labels)
    assert labels_from_key(labels_key(labels)) == labels


def test_sample_is_utc_and_float_and_checks_the_metric_name():
    local = datetime(2026, 3, 5, 12, 0, tzinfo=timezone(timedelta(hours=2)))

    sample = Sample("m", {}, local, 3)

    assert sample.ts == datetime(2026, 3, 5, 10, 0, tzinfo=timezone.utc) and sample.value == 3.0
    with pytest.raises(SelectorError):
        Sample("rows read", {}, local, 1)


def test_nanosecond_conversion_keeps_microseconds():
    ts = datetime(2026, 3, 5, 10, 0, 0, 123456, tzinfo=timezone.utc)

    assert from_ns(to_ns(ts)) == ts


def test_series_takes_datetime64_timestamps_of_any_unit():
    series = Series("m", {}, np.array(["2026-03-05T12:00:00"], dtype="datetime64[s]"), [1.0])

    assert series.timestamps.tolist() == [to_ns(NOW)]


def test_series_points_are_iso_and_nan_is_none():
    series = Series("m", {}, np.array([to_ns(NOW), to_ns(NOW) + 1_500_000_000]), np.array([1.0, np.nan]))

    assert series.points() == [("2026-03-05T12:00:00.000+00:00", 1.0), ("2026-03-05T12:00:01.500+00:00", None)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("1h30m", timedelta(minutes=90)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        ("250ms", timedelta(milliseconds=250)),
    ],
)
def test_parse_duration(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "1", "h", "1y", "-5m", "0s", "5 m x"])
def test_parse_duration_rejects(text):
    with pytest.raises(DurationError):
        parse_duration(text)


def test_time_range_from_since_start_end_and_now():
    assert TimeRange.resolve(since="2h", start=None, end=None, now=NOW) == TimeRange(NOW - timedelta(hours=2), NOW)
    assert TimeRange.resolve(
        since=None, start="2026-03-05T09:00:00", end="2026-03-05T10:00:00+01:00", now=NOW
    ) == TimeRange(NOW - timedelta(hours=3), NOW - timedelta(hours=3))
    assert TimeRange.resolve(since=None, start=None, end=None, now=NOW).start == NOW - timedelta(hours=1)
    assert parse_time("now", now=NOW) == NOW


@pytest.mark.parametrize(
    ("since", "start", "end", "fragment"),
    [
        ("1h", "2026-03-05T09:00:00Z", None, "either --since or --start"),
        (None, "2026-03-05T11:00:00Z", "2026-03-05T10:00:00Z", "starts"),
        (None, "yesterday", None, "invalid time"),
    ],
)
def test_time_range_rejects(since, start, end, fragment):
    with pytest.raises(DurationError, match=fragment):
        TimeRange.resolve(since=since, start=start, end=end, now=NOW)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.2, "1s"), (45, "45s"), (119.5, "120s"), (120, "2m"), (2701, "46m"), (7200, "2h"), (3 * 86_400, "3d")],
)
def test_duration_text_rounds_up_to_a_unit_parse_duration_reads_back(seconds: float, text: str):
    assert duration_text(seconds) == text
    assert parse_duration(text).total_seconds() >= seconds
