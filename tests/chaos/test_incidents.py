"""A drill's incidents: those its alert rules opened are the drill's to record on and resolve, and no one else's."""

from __future__ import annotations

from datetime import datetime, timezone

from chaos.incidents import drill_incidents, resolve_drill_incidents
from ops.incidents.db import open_engine, store_url, transaction
from ops.incidents.models import Status
from ops.incidents.service import list_incidents
from sluice.settings import get_settings
from tests.chaos.factories import drill_alert

NOW = datetime.now(timezone.utc).replace(microsecond=0)


def test_the_rollback_resolves_the_drills_alert_incidents_and_leaves_the_others(stand_in_drill):
    drill_alert(stand_in_drill.id, NOW)
    drill_alert(
        stand_in_drill.id, NOW, rule_id="duplicate-surge", runbook="duplicate-surge", metric="sluice_rows_duplicate"
    )
    drill_alert("0123456789ab", NOW)
    drill_alert(None, NOW)
    engine = open_engine(store_url(get_settings().home))

    with transaction(engine) as session:
        ours = [i.ref for i in drill_incidents(session, stand_in_drill)]
        resolved = resolve_drill_incidents(session, stand_in_drill)
    with transaction(engine) as session:
        statuses = {i.ref: i.status for i in list_incidents(session)}

    assert resolved == ours and len(ours) == 2
    assert [statuses[ref] for ref in ours] == [Status.RESOLVED] * 2
    assert sorted(s for ref, s in statuses.items() if ref not in ours) == [Status.TRIGGERED] * 2
