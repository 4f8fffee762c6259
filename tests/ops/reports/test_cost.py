"""Pricing runs at the configured rates and summing them by dataset, source, region and day."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest

from ops.reports.cost import CostBy, cost_report, price_run
from sluice.errors import ConfigError
from sluice.settings import CostSettings, Settings
from tests.ops.reports.cost_factories import GB, measured_run

RATES = CostSettings(
    read_per_gb={"s3": 0.09, "s3:eu-west-1": 0.02, "postgresql": 0.01},
    written_per_gb=0.023,
    cpu_hour=0.05,
    memory_gb_hour=0.005,
)
NOW = datetime.now(timezone.utc)


def test_a_run_is_priced_by_its_region_rate_bytes_written_cpu_hours_and_memory_held():
    cost = price_run(measured_run(), RATES)

    assert cost.read_cost == pytest.approx(2 * 0.02)  # 2 GB at the eu-west-1 rate, not the s3 one
    assert cost.write_cost == pytest.approx(0.023)
    assert cost.cpu_cost == pytest.approx(2 * 0.05)  # 7200 CPU seconds
    assert cost.memory_gb_hours == pytest.approx(2 * 4 * 0.5)  # 2 workers of 4 GB for half an hour
    assert cost.memory_cost == pytest.approx(4 * 0.005)
    assert cost.total == pytest.approx(0.04 + 0.023 + 0.1 + 0.02)


def test_a_region_without_a_rate_is_priced_at_its_kind_and_a_kind_without_one_is_flagged():
    other_region = price_run(measured_run(region="us-east-1"), RATES)
    unknown = price_run(measured_run(kind="mariadb", region=""), RATES)

    assert other_region.read_cost == pytest.approx(2 * 0.09)
    assert unknown.read_cost == 0 and not unknown.read_priced
    report = cost_report(
        [measured_run(kind="mariadb", region="")], RATES, by=CostBy.SOURCE, since=NOW - timedelta(1), until=NOW
    )
    assert report.unpriced_sources == ("mariadb",)


def test_memory_without_a_recorded_worker_limit_is_the_runs_peak():
    cost = price_run(measured_run(workers=0, worker_memory_bytes=0, peak_memory_bytes=2 * GB), RATES)

    assert cost.memory_gb_hours == pytest.approx(2 * 0.5)


def test_runs_sum_by_region_with_a_total_and_runs_outside_the_window_or_dataset_are_left_out():
    runs = [
        measured_run("a", region="eu-west-1"),
        measured_run("b", region="eu-west-1", dataset="customers"),
        measured_run("c", kind="postgresql", region=""),
        measured_run("old", finished_at=NOW - timedelta(days=30)),
    ]

    report = cost_report(runs, RATES, by=CostBy.REGION, since=NOW - timedelta(days=7), until=NOW)
    only = cost_report(runs, RATES, by=CostBy.DATASET, since=NOW - timedelta(days=7), until=NOW, dataset="customers")

    assert [(line.key, line.runs) for line in report.lines] == [("s3:eu-west-1", 2), ("postgresql", 1)]
    assert report.total.runs == 3
    assert report.total.total_cost == pytest.approx(sum(line.total_cost for line in report.lines))
    assert report.total.bytes_read == 6 * GB
    assert [(line.key, line.runs) for line in only.lines] == [("customers", 1)]


def test_days_are_listed_in_date_order():
    runs = [measured_run(str(i), finished_at=NOW - timedelta(days=i)) for i in (3, 1, 2)]

    report = cost_report(runs, RATES, by=CostBy.DAY, since=NOW - timedelta(days=7), until=NOW)

    assert [line.key for line in report.lines] == sorted(line.key for line in report.lines)
    assert len(report.lines) == 3


def test_runs_recorded_before_use_was_measured_are_counted_as_such():
    old = measured_run("old")
    old.read_measure = ""

    report = cost_report([old, measured_run("new")], RATES, by=CostBy.DATASET, since=NOW - timedelta(1), until=NOW)

    assert report.unmeasured_runs == 1


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SLUICE_COST_CPU_HOUR", "-0.1"),
        ("SLUICE_COST_WRITTEN_PER_GB", "nan"),
        ("SLUICE_COST_READ_PER_GB", '{"s3": -1}'),
        ("SLUICE_COST_READ_PER_GB", '{"s3:": 1}'),
    ],
)
def test_a_negative_or_malformed_rate_is_refused_with_the_variables_name(monkeypatch, name, value):
    monkeypatch.setenv(name, value)

    with pytest.raises(ConfigError, match=name):
        Settings.from_env()


def test_the_placeholder_defaults_are_valid_rates():
    rates = CostSettings()

    assert all(v >= 0 and math.isfinite(v) for v in rates.read_per_gb.values())
    assert rates.read_rate("s3", "nowhere") == rates.read_per_gb["s3"]
