"""Slot lag as metrics from a real logical-decoding cluster, and the default rule that pages on it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ops.alerts.rules import RuleSet, Threshold, load_rules
from ops.alerts.service import run_check
from ops.baselines.registry import BaselineRegistry
from ops.metrics.cdc_slots import SLOT_LAG_BYTES, SLOT_LAG_SECONDS, collect_slot_metrics, server_label
from ops.metrics.embedded import EmbeddedStore
from ops.metrics.models import Selector
from sluice.sources.cdc.capture import capture
from sluice.sources.cdc.errors import CdcUnreachableError
from tests.pgcluster import PgCluster, pg_logical  # noqa: F401 - the session fixture
from tests.sluice.sources.cdc.conftest import ACCOUNTS, ACCOUNTS_DDL, CdcSource, make_source

pytestmark = pytest.mark.integration


class ListSink:
    def __init__(self) -> None:
        self.events: list[object] = []

    def emit(self, event: object) -> None:
        self.events.append(event)


@pytest.fixture()
def source(pg_logical: PgCluster) -> Iterator[CdcSource]:
    yield from make_source(pg_logical, ACCOUNTS_DDL, ACCOUNTS)


def lag_rules(bytes_threshold: float) -> RuleSet:
    """The default cdc-slot-lag rules, the bytes one with a threshold a test can cross."""
    rules = [r for r in load_rules().rules if r.selector in (SLOT_LAG_BYTES, SLOT_LAG_SECONDS)]
    assert {r.id for r in rules} == {"cdc-slot-lag-bytes", "cdc-slot-lag-seconds"}
    return RuleSet(
        rules=[
            r.model_copy(update={"threshold": Threshold(static=bytes_threshold)}) if r.selector == SLOT_LAG_BYTES else r
            for r in rules
        ]
    )


def test_lag_is_sampled_per_slot_and_the_rule_fires_past_its_threshold(source: CdcSource, tmp_path: Path) -> None:
    with source.connect() as conn:
        conn.execute("INSERT INTO accounts (id, body) SELECT g, repeat('x', 200) FROM generate_series(1, 2000) g")
    store, registry, sink = EmbeddedStore(tmp_path / "metrics"), BaselineRegistry(tmp_path / "baselines"), ListSink()
    start = datetime.now(timezone.utc).replace(microsecond=0)
    stamps = [start + timedelta(minutes=m) for m in range(0, 10, 2)]
    for at in stamps:
        assert collect_slot_metrics(store, source.dsn, now=at, environment="test") >= 2

    (lag,) = [
        s for s in store.query_range(Selector(SLOT_LAG_BYTES), start, stamps[-1]) if s.labels["slot"] == source.slot
    ]
    assert lag.labels == {"slot": source.slot, "database": source.database, "server": server_label(source.dsn),
                          "environment": "test"}  # fmt: skip
    assert float(lag.values.min()) > 400_000  # 2,000 rows of 200 bytes, and their WAL records
    (seconds,) = [s for s in store.query_range(Selector(SLOT_LAG_SECONDS), start, stamps[-1])
                  if s.labels["slot"] == source.slot]  # fmt: skip
    assert float(seconds.values.max()) >= 0.0
    assert not [r for r in run_check(load_rules(), store, registry, tmp_path, stamps[-1], []).results
                if r.status == "firing" and r.labels.get("slot") == source.slot]  # fmt: skip

    evaluation = run_check(lag_rules(100_000), store, registry, tmp_path, stamps[-1], [sink])
    (fired,) = [r for r in evaluation.results if r.status == "firing" and r.labels["slot"] == source.slot]
    assert (fired.rule_id, fired.runbook) == ("cdc-slot-lag-bytes", "cdc-slot-lag")

    capture(source.spec(), source.sink(tmp_path / "home"))
    later = [stamps[-1] + timedelta(minutes=m) for m in range(2, 40, 4)]
    for at in later:
        collect_slot_metrics(store, source.dsn, now=at, environment="test")
    evaluation = run_check(lag_rules(100_000), store, registry, tmp_path, later[-1], [sink])
    assert not [r for r in evaluation.results if r.status == "firing" and r.labels["slot"] == source.slot]


def test_an_unreachable_server_is_one_line_with_a_hint(tmp_path: Path) -> None:
    from tests.pgcluster import free_port

    with pytest.raises(CdcUnreachableError) as raised:
        collect_slot_metrics(EmbeddedStore(tmp_path / "m"), f"postgresql://u@127.0.0.1:{free_port()}/x")
    assert "\n" not in raised.value.args[0] and raised.value.hint
