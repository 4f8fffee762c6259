"""Numbers as people read them, and artifact keys Prefect accepts."""

from __future__ import annotations

import re

import pytest

from sluice.display import artifact_key, readable


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (793.2620686809722, "793"),
        (0.042137, "0.0421"),
        (1_234_567.8, "1,230,000"),
        (1_234_567, "1,234,567"),
        (12.0, "12"),
        (99.96, "100"),
        (-3.14159, "-3.14"),
        (0.5, "0.5"),
        (0.0, "0"),
        (0.00001234, "1.23e-05"),
        (None, "-"),
        (float("nan"), "nan"),
    ],
)
def test_a_count_is_whole_and_any_other_number_has_three_significant_digits(value, shown):
    assert readable(value) == shown


def test_artifact_keys_are_lowercase_letters_digits_and_single_dashes():
    assert (
        artifact_key("Staging", "drill-0A1B", None, "", "ingest", "orders__EU", "summary")
        == "staging-drill-0a1b-ingest-orders-eu-summary"
    )
    made = artifact_key("dev", "incident", "ünïcode / weird: name!", "inc", "3")
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", made)
