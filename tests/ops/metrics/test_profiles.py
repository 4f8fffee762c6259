"""Profiles as samples: a vanished code is written as 0 for a bounded number of runs; the first run has no drift."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa

from ops.metrics.embedded import EmbeddedStore
from ops.metrics.models import Selector
from ops.metrics.profiles import CODE_MEMORY, previous_profile
from sluice.profile import profile_batches
from tasks.profile import write_profile

T0 = datetime(2026, 3, 2, tzinfo=timezone.utc)


def _run(store: EmbeddedStore, hour: int, codes: list[str], environment: str = "dev") -> list[str]:
    table = pa.table({"currency": pa.array(codes)})
    return write_profile(
        store, profile_batches([table]), "orders", environment, T0 + timedelta(hours=hour)
    ).schema_changes


def test_a_vanished_code_is_written_as_zero_for_code_memory_runs_then_no_more(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "metrics")
    _run(store, 0, ["EUR", "GBP"])
    for hour in range(1, CODE_MEMORY + 4):
        _run(store, hour, ["EUR"])

    (gbp,) = store.query_range(Selector.parse('sluice_column_top_share{value="GBP"}'), T0, T0 + timedelta(days=2))
    assert gbp.values.tolist() == [0.5] + [0.0] * CODE_MEMORY


def test_the_first_run_has_no_schema_drift_and_environments_are_compared_apart(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "metrics")

    assert _run(store, 0, ["EUR"]) == []
    assert _run(store, 1, ["EUR"], environment="prod") == []
    previous = previous_profile(store, "orders", "dev", T0 + timedelta(hours=2))
    assert previous.schema == {"currency": "string"} and previous.codes == {"currency": {"EUR"}}
    assert previous_profile(store, "orders", "dev", T0).schema == {}  # nothing before the first run
