"""``ops profile``: a dataset's latest column profile, one column's history and its plot, from the embedded store."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from ops.metrics.embedded import EmbeddedStore
from sluice.profile import profile_batches
from tasks.profile import write_profile
from tests.ops.factories import invoke, sluice_home
from tests.ops.reports.test_plot import PNG_MAGIC
from tests.tasks.test_profile import orders


@pytest.fixture()
def home_settings(monkeypatch, tmp_path):
    settings = sluice_home(monkeypatch, tmp_path, env="staging")
    store, rng = EmbeddedStore(settings.home / "metrics"), np.random.default_rng(11)
    start = datetime.now(timezone.utc) - timedelta(hours=5)
    for i in range(4):
        table = orders(i, rng, amount_nulls=0.5 if i == 3 else 0.0)
        write_profile(store, profile_batches([table]), "orders", "staging", start + timedelta(hours=i))
    return settings


def test_the_latest_profile_lists_each_column_in_a_table_that_fits_80_columns(home_settings, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    result = invoke("profile", "orders")

    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    assert "EUR" in lines["currency"] and "string" in lines["currency"]
    assert "6,000" in lines["order_id"] and "8,000" in lines["order_id"]  # min and max of the last run's ids


def test_one_columns_history_has_one_point_per_run_and_the_shift_shows(home_settings):
    result = invoke("profile", "orders", "amount", "-o", "json")

    assert result.exit_code == 0, result.output
    history = json.loads(result.stdout)
    assert [round(p["null_rate"], 1) for p in history] == [0.0, 0.0, 0.0, 0.5]
    assert history[0]["type"] == "double" and set(history[0]["quantiles"]) == {"0.05", "0.25", "0.5", "0.75", "0.95"}


def test_plot_writes_a_png_of_the_columns_history(home_settings, tmp_path):
    target = tmp_path / "plots" / "currency.png"

    result = invoke("profile", "orders", "currency", "--plot", str(target))

    assert result.exit_code == 0, result.output
    assert target.read_bytes().startswith(PNG_MAGIC)


def test_a_dataset_without_profiles_says_so_and_plot_without_a_column_is_a_usage_error(home_settings):
    empty = invoke("profile", "customers")
    usage = invoke("profile", "orders", "--plot", "x.png")

    assert empty.exit_code == 0 and "no profile of customers in staging" in empty.output
    assert usage.exit_code == 2
    assert json.loads(invoke("profile", "orders", "--env", "prod", "-o", "json").stdout)["at"] is None
