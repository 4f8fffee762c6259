"""Explicit typing: every value is read as its declared type or logged with a reason."""

from __future__ import annotations

import pyarrow as pa

from sluice.validate.coerce import coerce_column
from sluice.validate.contracts import ColumnSpec, ColumnType
from sluice.validate.quality import FailureLog


def _coerce(values, spec: ColumnSpec):
    log = FailureLog()
    out = coerce_column(pa.array(values, pa.string()), spec, default_tz="UTC", log=log)
    return out.to_pylist(), log.table().to_pylist()


def test_integers_are_read_strictly_and_failures_keep_the_raw_value():
    out, fails = _coerce(["1", " 42 ", "-7", "3.5", "two", "", None], ColumnSpec(name="q", type=ColumnType.INT64))
    assert out == [1, 42, -7, None, None, None, None]
    assert [(f["row"], f["reason"], f["value"]) for f in fails] == [
        (3, "unparseable_int", "3.5"),
        (4, "unparseable_int", "two"),
    ]


def test_floats_accept_exponents_and_refuse_words():
    out, fails = _coerce(["1.5", ".5", "2e3", "nan", "1,5"], ColumnSpec(name="a", type=ColumnType.FLOAT64))
    assert out == [1.5, 0.5, 2000.0, None, None]
    assert [f["row"] for f in fails] == [3, 4]


def test_booleans_accept_common_spellings():
    out, fails = _coerce(["true", "N", "1", "Yes", "maybe"], ColumnSpec(name="b", type=ColumnType.BOOL))
    assert out == [True, False, True, True, None]
    assert fails[0]["reason"] == "unparseable_bool"


def test_failures_on_warning_columns_are_marked_non_critical():
    spec = ColumnSpec(name="d", type=ColumnType.FLOAT64, nullable=True, criticality="warning")
    _, fails = _coerce(["x"], spec)
    assert fails[0]["critical"] is False


def test_dates_are_read_without_time_zone_shifts():
    spec = ColumnSpec(name="d", type=ColumnType.DATE, formats=["ISO8601", "%d.%m.%Y"])
    out, fails = _coerce(["2024-03-05", "06.03.2024", "2024-99-01"], spec)
    assert [str(v) for v in out] == ["2024-03-05", "2024-03-06", "None"]
    assert fails[0]["reason"] == "unparseable_date"


def test_a_plus_sign_is_read_and_too_many_digits_or_two_signs_are_refused():
    values = ["+" + "9" * 18, " +5 ", "9" * 19, "+-1", "12", None]
    out, fails = _coerce(values, ColumnSpec(name="q", type=ColumnType.INT64))
    assert out == [999_999_999_999_999_999, 5, None, None, 12, None]
    assert [f["row"] for f in fails] == [2, 3]


def test_digits_of_other_scripts_are_refused_and_a_plus_sign_is_still_read():
    arabic_indic = "\u0661\u0662\u0663"  # digits to Unicode, not to the contract: the strict pattern decides
    out, fails = _coerce([arabic_indic, "+5"], ColumnSpec(name="q", type=ColumnType.INT64))
    assert out == [None, 5] and [f["row"] for f in fails] == [0]
