"""Upgrading incident stores: duplicate open incidents are settled, then one open incident per key is enforced."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ops.incidents.db import create_store_engine, migrate, transaction
from ops.incidents.models import Incident, Status
from ops.incidents.service import ensure_incident
from tests.ops.incidents.factories import T0
from tests.ops.incidents.storm import run_together


def row(key: str, status: str, minutes: int, occurrences: int) -> dict[str, object]:
    return {
        "title": f"{key} failed",
        "severity": "SEV2",
        "environment": "dev",
        "source": "flow-failure",
        "status": status,
        "dedup_key": key,
        "signature": "",
        "is_drill": False,
        "occurrences": occurrences,
        "opened_at": T0 + timedelta(minutes=minutes),
        "last_seen_at": T0 + timedelta(minutes=minutes + 5),
        "resolved_at": T0 if status == "resolved" else None,
    }


def test_duplicate_open_incidents_are_merged_into_the_first_opened_by_the_upgrade(blank_store_url) -> None:
    engine = create_store_engine(blank_store_url)
    migrate(engine, "0002")
    with engine.begin() as conn:
        conn.execute(
            sa.insert(Incident.__table__),
            [
                row("a", "resolved", -60, 4),
                row("a", "acknowledged", 1, 3),
                row("a", "triggered", 0, 2),
                row("a", "mitigated", 2, 1),
                row("b", "triggered", 0, 7),
            ],
        )

    migrate(engine)

    with transaction(engine) as session:
        incidents = {i.id: i for i in (ensure_incident(session, n) for n in range(1, 6))}
    assert [i.status for i in incidents.values()] == [
        Status.RESOLVED,
        Status.RESOLVED,
        Status.TRIGGERED,
        Status.RESOLVED,
        Status.TRIGGERED,
    ]
    kept = incidents[3]
    assert kept.occurrences == 6 and kept.last_seen_at == T0 + timedelta(minutes=7)
    assert sorted(e.text for e in kept.timeline if e.kind == "merged") == [
        "merged INC-2 into this incident: 3 occurrence(s)",
        "merged INC-4 into this incident: 1 occurrence(s)",
    ]
    for merged, was in ((incidents[2], "acknowledged"), (incidents[4], "mitigated")):
        expected = f"{was} -> resolved: merged into INC-3, the open incident of its dedup key"
        assert [e.text for e in merged.timeline] == [expected]
        assert merged.resolved_at is not None and merged.mitigated_at is not None
    assert incidents[1].occurrences == 4 and incidents[1].timeline == []
    assert incidents[5].occurrences == 7 and incidents[5].timeline == []


def test_the_upgraded_store_refuses_a_second_open_incident_of_a_key(blank_store_url) -> None:
    engine = create_store_engine(blank_store_url)
    migrate(engine)
    with engine.begin() as conn:
        conn.execute(sa.insert(Incident.__table__), [row("a", "triggered", 0, 1), row("a", "resolved", 1, 1)])

    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(sa.insert(Incident.__table__), [row("a", "mitigated", 2, 1)])
    with engine.begin() as conn:
        conn.execute(sa.insert(Incident.__table__), [row("b", "triggered", 2, 1)])


def test_processes_opening_a_new_store_at_once_migrate_it_once(blank_store_url) -> None:
    engines = [create_store_engine(blank_store_url) for _ in range(4)]

    outcomes = run_together([lambda e=e: migrate(e) for e in engines])

    assert [(o.error, o.message[:200]) for o in outcomes if o.error] == []
    with engines[0].connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM incident_store_version")).scalar_one() == "0003"
    for engine in engines:
        engine.dispose()
