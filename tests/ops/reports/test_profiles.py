"""Profiles read back from the metrics store: whatever a column, a code or an environment is called."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ops.metrics.embedded import EmbeddedStore
from sluice.profile import profile_batches
from tasks.profile import write_profile

names = st.text(alphabet=st.characters(exclude_categories=["Cs"]), min_size=1, max_size=30)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(column=names, code=st.text(max_size=40), environment=names)
def test_hostile_column_names_codes_and_environments_read_back_as_written(
    tmp_path: Path, column: str, code: str, environment: str
) -> None:
    from ops.reports.profiles import column_history, latest_profile

    home = tmp_path / uuid.uuid4().hex
    store, at = EmbeddedStore(home / "metrics"), datetime(2026, 3, 2, tzinfo=timezone.utc)
    table = pa.table({column: pa.array([code, code, None])})
    write_profile(store, profile_batches([table]), "orders", environment, at)

    latest = latest_profile(store, "orders", environment, at - timedelta(days=1), at + timedelta(days=1))
    (point,) = column_history(store, "orders", environment, column, at - timedelta(days=1), at + timedelta(days=1))
    assert [c.column for c in latest.columns] == [column] and latest.at == at
    assert point.null_rate == pytest.approx(1 / 3) and point.top == {code: 1.0}
