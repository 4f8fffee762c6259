"""The chaos store: its own base and migrations, in the incident store's database, whichever migrations ran first."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from chaos.drill import Drill
from chaos.experiment import load
from chaos.journal import DrillRecord, list_drills, save_drill
from chaos.store import VERSION_TABLE, ChaosBase, open_chaos_engine
from chaos.verdicts import DrillStatus, Judgement
from ops.incidents.db import open_engine, transaction
from ops.incidents.models import Base
from tests.ops.incidents.conftest import blank_store_url  # noqa: F401  (SQLite and a fresh PostgreSQL database)

INCIDENT_TABLES = {"incidents", "timeline_events", "action_items", "postmortems", "notifications"}


@pytest.fixture()
def engines() -> Iterator[list[Engine]]:
    """Engines a test opened; disposed afterwards, so a PostgreSQL database can be dropped."""
    opened: list[Engine] = []
    yield opened
    for engine in opened:
        engine.dispose()


def _save(engine: Engine, experiment: str = "duplicate-delivery") -> str:
    drill = Drill(load(experiment), "staging")
    with transaction(engine) as session:
        save_drill(
            session,
            drill=drill,
            journal={"status": "completed"},
            judgement=Judgement(DrillStatus.PASSED, [], 1.0, []),
            incidents=["INC-7"],
        )
    return drill.id


def _tables(engine: Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def _version(engine: Engine, table: str) -> str:
    with engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT version_num FROM {table}")).scalar_one()


def test_the_chaos_tables_are_on_their_own_metadata():
    assert set(ChaosBase.metadata.tables) == {"chaos_drills"}
    assert "chaos_drills" not in Base.metadata.tables
    assert DrillRecord.metadata is ChaosBase.metadata


def test_a_store_the_incident_migrations_made_keeps_its_drills(blank_store_url, engines):
    incidents = open_engine(blank_store_url)  # revision 0002 of the incident store creates chaos_drills
    engines.append(incidents)
    earlier = _save(incidents)

    chaos = open_chaos_engine(blank_store_url)
    engines.append(chaos)
    later = _save(chaos, "poison-records")

    with transaction(chaos) as session:
        stored = [(r.drill_id, r.experiment, r.incidents) for r in list_drills(session)]
    assert sorted(stored) == sorted([(earlier, "duplicate-delivery", "INC-7"), (later, "poison-records", "INC-7")])
    assert _version(chaos, VERSION_TABLE) == "0001"
    assert _version(incidents, "incident_store_version") == "0003"


def test_the_chaos_store_works_where_the_incident_migrations_never_ran(blank_store_url, engines):
    chaos = open_chaos_engine(blank_store_url)
    engines.append(chaos)
    drill_id = _save(chaos)

    assert _tables(chaos) == {"chaos_drills", VERSION_TABLE}, "the chaos store creates no incident table"

    incidents = open_engine(blank_store_url)  # the incident migrations run afterwards, on the same database
    engines.append(incidents)
    assert _tables(incidents) >= INCIDENT_TABLES
    assert _version(incidents, "incident_store_version") == "0003"
    with transaction(chaos) as session:
        assert [r.drill_id for r in list_drills(session)] == [drill_id]
