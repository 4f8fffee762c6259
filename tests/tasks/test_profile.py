"""Run profiles into the metrics store, and the drift alerts that watch them (the issue's drift acceptance)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from sqlalchemy.engine import Engine

from ops.alerts.rules import load_rules
from ops.alerts.service import Evaluation, run_check
from ops.baselines.service import open_registry
from ops.incidents.db import open_engine, transaction
from ops.incidents.service import list_incidents
from ops.metrics.embedded import EmbeddedStore
from ops.metrics.models import Selector
from ops.respond.sink import IncidentSink
from sluice.profile import profile_batches
from tasks.profile import write_profile

T0 = datetime(2026, 3, 2, tzinfo=timezone.utc)
RUNS, SHIFTED = 24, 3  # the detector judges a series from its 17th point on
DRIFT_RULES = {"column-null-rate-drift", "column-code-share-drift", "column-mean-drift", "column-quantile-drift"}


def orders(run: int, rng: np.random.Generator, *, amount_nulls: float = 0.05, currencies: int = 3) -> pa.Table:
    """One run's orders: increasing ids, a currency code, an amount with ``amount_nulls`` of nulls."""
    rows = 2_000
    amount = rng.normal(100.0, 10.0, rows)
    codes = np.array(["EUR", "USD", "GBP"][:currencies])
    return pa.table(
        {
            "order_id": pa.array(np.arange(run * rows, (run + 1) * rows)),
            "currency": pa.array(rng.choice(codes, rows)),
            "amount": pa.array(amount, mask=rng.random(rows) < amount_nulls),
        }
    )


def _firing(evaluation: Evaluation) -> set[tuple[str, str]]:
    return {(r.rule_id, r.labels.get("column", "")) for r in evaluation.results if r.status == "firing"}


def _runs(tmp_path: Path, tables: list[pa.Table]) -> tuple[list[set[tuple[str, str]]], Engine]:
    """Profile each table as one hourly run and evaluate the default rules after each; what fired after each."""
    store, registry = EmbeddedStore(tmp_path / "metrics"), open_registry(tmp_path)
    engine = open_engine(f"sqlite:///{tmp_path / 'incidents.db'}")
    sink, rules, fired = IncidentSink(engine, "dev"), load_rules(), []
    for i, table in enumerate(tables):
        at = T0 + timedelta(hours=i)
        write_profile(store, profile_batches(table.to_batches(max_chunksize=500)), "orders", "dev", at)
        fired.append(_firing(run_check(rules, store, registry, tmp_path, at + timedelta(minutes=1), [sink])))
    return fired, engine


def test_a_tripled_null_rate_fires_column_drift_with_its_runbook_and_nothing_fires_before(tmp_path: Path) -> None:
    rng = np.random.default_rng(21)
    tables = [orders(i, rng, amount_nulls=0.15 if i >= RUNS - SHIFTED else 0.05) for i in range(RUNS)]

    fired, engine = _runs(tmp_path, tables)

    assert all(not f for f in fired[: RUNS - SHIFTED])
    assert ("column-null-rate-drift", "amount") in fired[-1]
    assert {rule for rule, _ in fired[-1]} <= DRIFT_RULES and {c for _, c in fired[-1]} == {"amount"}
    with transaction(engine) as session:
        incidents = list_incidents(session)
    assert [i.runbook_id for i in incidents] == ["column-drift"] * len(incidents) and incidents
    assert all("column=amount" in i.signature for i in incidents)


def test_a_vanished_code_is_written_as_share_zero_and_fires_code_share_drift(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    tables = [orders(i, rng, currencies=2 if i >= RUNS - SHIFTED else 3) for i in range(RUNS)]

    fired, _ = _runs(tmp_path, tables)

    assert all(not f for f in fired[: RUNS - SHIFTED])
    assert ("column-code-share-drift", "currency") in fired[-1]
    store = EmbeddedStore(tmp_path / "metrics")
    (gbp,) = store.query_range(
        Selector.parse('sluice_column_top_share{column="currency",value="GBP"}'), T0, T0 + timedelta(days=1)
    )
    assert gbp.values[-SHIFTED:].tolist() == [0.0] * SHIFTED and gbp.values[0] > 0.2


def test_an_added_and_a_retyped_column_are_schema_drift_with_the_schema_drift_runbook(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    tables = [orders(i, rng) for i in range(3)]
    tables[2] = (
        tables[2]
        .append_column("channel", pa.array(["web"] * 2_000))
        .set_column(0, "order_id", tables[2]["order_id"].cast(pa.string()))
    )

    fired, engine = _runs(tmp_path, tables)

    assert fired[:2] == [set(), set()] and ("schema-drift", "") in fired[2]
    store = EmbeddedStore(tmp_path / "metrics")
    changes = store.query_range(Selector.parse("sluice_schema_change"), T0, T0 + timedelta(days=1))
    found = {(s.labels["column"], s.labels["change"]) for s in changes}
    assert found == {("channel", "added"), ("order_id", "retyped")}
    with transaction(engine) as session:
        assert [i.runbook_id for i in list_incidents(session)] == ["schema-drift"]


@pytest.mark.parametrize("writers", [4])
def test_concurrent_runs_of_two_datasets_write_their_profiles_without_mixing(tmp_path: Path, writers: int) -> None:
    from concurrent.futures import ThreadPoolExecutor

    store = EmbeddedStore(tmp_path / "metrics")
    rng = np.random.default_rng(5)
    tables = [orders(i, rng) for i in range(writers)]

    def one(i: int) -> int:
        at = T0 + timedelta(hours=i)
        return write_profile(store, profile_batches([tables[i]]), f"ds{i % 2}", "dev", at).samples

    with ThreadPoolExecutor(writers) as pool:
        written = list(pool.map(one, range(writers)))

    nulls = store.query_range(Selector.parse('sluice_column_null_rate{column="amount"}'), T0, T0 + timedelta(days=1))
    assert sum(len(s) for s in nulls) == writers and all(written)
    assert {s.labels["dataset"] for s in nulls} == {"ds0", "ds1"}


def test_a_profile_that_cannot_be_read_is_a_warning_and_leaves_the_run_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.logging import disable_run_logger

    from sluice.runs.records import RunReport
    from sluice.settings import get_settings
    from tasks.profile import ProfileOutcome, profile_run

    monkeypatch.setenv("SLUICE_HOME", str(tmp_path / "home"))
    get_settings(fresh=True)
    table = tmp_path / "lake" / "orders"
    (table / "_delta_log").mkdir(parents=True)
    (table / "_delta_log" / f"{0:020d}.json").write_text("{not json", encoding="utf-8")
    report = RunReport(run_id="r1", dataset="orders", source="s", env="dev", started_at=T0, lake_version=0)
    try:
        with disable_run_logger():
            outcome = profile_run.fn(report, str(table), {})
    finally:
        monkeypatch.undo()
        get_settings(fresh=True)

    assert outcome == ProfileOutcome() and report.status == "running"
