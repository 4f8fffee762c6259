"""API use as metrics: every run's samples, and the quota rule firing on a run that used most of the quota."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from ops.alerts.rules import RuleSet, load_rules
from ops.alerts.service import run_check
from ops.baselines.registry import BaselineRegistry
from ops.metrics.apis import API_QUOTA_USED, API_REQUESTS, ApiUse, api_samples
from ops.metrics.embedded import EmbeddedStore
from ops.metrics.models import Selector


def _use(quota_used: float | None) -> ApiUse:
    return ApiUse(
        "crm", requests=40, retries=2, throttled=1, waited_s=3.5, renewals=1, rotations=0, quota_used=quota_used
    )


def _firing(store: EmbeddedStore, home: Path, at: datetime) -> list[str]:
    rules = RuleSet(rules=[r for r in load_rules().rules if r.selector == API_QUOTA_USED])
    evaluation = run_check(rules, store, BaselineRegistry(home / "baselines"), home, at, [])
    return [r.rule_id for r in evaluation.results if r.status == "firing"]


def test_an_api_that_states_no_quota_gives_no_quota_sample() -> None:
    now = datetime.now(timezone.utc)

    names = [s.metric for s in api_samples(_use(None), now, environment="test")]

    assert API_REQUESTS in names and API_QUOTA_USED not in names


def test_runs_using_most_of_the_quota_fire_the_rule_and_runs_well_within_it_do_not(tmp_path: Path) -> None:
    store, start = EmbeddedStore(tmp_path / "metrics"), datetime.now(timezone.utc).replace(microsecond=0)
    for step, used in enumerate([0.2, 0.3, 0.35]):
        store.write(api_samples(_use(used), start + timedelta(minutes=10 * step), environment="test"))
    assert _firing(store, tmp_path, start + timedelta(minutes=25)) == []

    for step, used in enumerate([0.92, 0.95, 0.97], start=3):
        store.write(api_samples(_use(used), start + timedelta(minutes=10 * step), environment="test"))

    assert _firing(store, tmp_path, start + timedelta(minutes=55)) == ["api-quota-nearly-exhausted"]
    (series,) = store.query_range(Selector(API_QUOTA_USED), start, start + timedelta(hours=1))
    assert series.labels["api"] == "crm"
