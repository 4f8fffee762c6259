"""A backfill's plan: the days of a range, each day's source from the template, the days already done."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sluice.errors import ConfigError
from sluice.runs.backfill import MAX_DAYS, day_source, ensure_range, ensure_source_template, plan_backfill


def test_a_range_holds_both_ends_and_every_day_between():
    days = ensure_range(date(2024, 2, 27), date(2024, 3, 2))

    assert days == [date(2024, 2, 27), date(2024, 2, 28), date(2024, 2, 29), date(2024, 3, 1), date(2024, 3, 2)]


def test_a_range_ending_before_it_starts_or_too_long_is_refused_with_a_hint():
    with pytest.raises(ConfigError, match="before --from") as backwards:
        ensure_range(date(2024, 3, 2), date(2024, 3, 1))
    with pytest.raises(ConfigError, match=f"at most {MAX_DAYS}") as too_long:
        ensure_range(date(2000, 1, 1), date(2000, 1, 1) + timedelta(days=MAX_DAYS))

    assert backwards.value.hint and too_long.value.hint


def test_a_day_fills_the_date_field_as_iso_or_with_a_strftime_format():
    day = date(2024, 3, 5)

    assert day_source("/data/orders/{date}", day) == "/data/orders/2024-03-05"
    assert day_source("s3://drop/{date:%Y/%m/%d}/x-{date:%Y%m%d}", day) == "s3://drop/2024/03/05/x-20240305"
    assert day_source("/d/{{raw}}/{date}", day) == "/d/{raw}/2024-03-05"


@pytest.mark.parametrize(
    ("template", "said"),
    [
        ("/data/orders", "no {date} field"),
        ("/data/{day}", "fields 'day'"),
        ("/data/{}", "fields '{}'"),
        ("/data/{date.year}", "fields 'date.year'"),
        ("/data/{date!r}", "converts its field"),
        ("/data/{date:>12}", "is not a strftime format"),
        ("/data/{date", "does not parse"),
    ],
)
def test_a_template_without_a_plain_date_field_is_refused_naming_the_problem(template, said):
    with pytest.raises(ConfigError, match="source template") as refused:
        ensure_source_template(template)

    assert said in str(refused.value) and refused.value.hint


@given(st.text(max_size=40))
def test_any_template_gives_a_source_or_a_config_error(template):
    try:
        source = day_source(template, date(2024, 3, 5))
    except ConfigError as exc:
        assert exc.hint
    else:
        assert isinstance(source, str) and "{date" in template


def test_a_plan_skips_only_days_whose_source_and_pattern_a_completed_run_ingested():
    done = {("/d/2024-03-02", "*.csv"), ("/d/2024-03-03", "*"), ("/elsewhere/2024-03-04", "*.csv")}

    plan = plan_backfill("/d/{date}", date(2024, 3, 1), date(2024, 3, 4), "*.csv", done)

    assert [s.day.day for s in plan.slices] == [1, 2, 3, 4]
    assert [s.day.day for s in plan.skipped] == [2]
    assert [(s.source, s.pattern) for s in plan.to_run] == [
        ("/d/2024-03-01", "*.csv"),
        ("/d/2024-03-03", "*.csv"),
        ("/d/2024-03-04", "*.csv"),
    ]


@given(st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=20))
def test_any_strftime_format_in_the_field_gives_a_source_or_a_config_error(spec):
    try:
        source = day_source(f"/d/{{date:%{spec}}}", date(2024, 3, 5))
    except ConfigError as exc:
        assert exc.hint
    else:
        assert source.startswith("/d/")
