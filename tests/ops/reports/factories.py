"""A scripted set of incidents with known response times, around any base time.

    ref    opened       severity source        flow             key  acked  mitigated resolved
    INC-1  base-40d     SEV2     flow-failure  ingest-files     A    +5m    -         +50m     (before the window)
    INC-2  base         SEV1     flow-failure  ingest-files     A    +2m    -         +30m
    INC-3  base+1d      SEV2     alert         -                B    +4m    +10m      +60m
    INC-4  base+2d      SEV2     flow-failure  ingest-files     A    +9m    -         -        (open)
    INC-5  base+3d      SEV3     manual        alerts-evaluate  C    -      -         +20m
    INC-6  base+4d      SEV4     chaos-drill   ingest-files     D    +1m    -         +5m      (a drill)

INC-3 and INC-5 share a failure signature under different keys. Action
items: INC-1's is due base+1d and open, INC-2's is due base+20d, INC-3's was
due base+1d and is done.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from ops.incidents.models import Incident, Severity, Source, Status
from ops.incidents.service import Trigger, transition, trigger
from ops.postmortems.actions import add_action, complete_action

SIGNATURE = "TimeoutError: talking to S3"


def _incident(
    session: Session,
    at: datetime,
    severity: Severity,
    source: Source,
    flow: str | None,
    key: str,
    steps: dict[Status, int],
    **extra: object,
) -> Incident:
    spec = Trigger(
        title=f"{key} trouble",
        severity=severity,
        source=source,
        dedup_key=key,
        environment="dev",
        text="opened",
        at=at,
        flow_name=flow,
        dataset="orders",
        **extra,
    )  # type: ignore[arg-type]
    incident = trigger(session, spec).incident
    for status, after in steps.items():
        transition(session, incident, status, at=at + timedelta(minutes=after))
    return incident


def scripted_incidents(session: Session, base: datetime) -> list[Incident]:
    day = timedelta(days=1)
    ack, mit, res = Status.ACKNOWLEDGED, Status.MITIGATED, Status.RESOLVED
    flow_failure, ingest = Source.FLOW_FAILURE, "ingest-files"
    made = [
        _incident(session, base - 40 * day, Severity.SEV2, flow_failure, ingest, "A", {ack: 5, res: 50}),
        _incident(session, base, Severity.SEV1, flow_failure, ingest, "A", {ack: 2, res: 30}),
        _incident(
            session, base + day, Severity.SEV2, Source.ALERT, None, "B", {ack: 4, mit: 10, res: 60}, signature=SIGNATURE
        ),
        _incident(session, base + 2 * day, Severity.SEV2, flow_failure, ingest, "A", {ack: 9}),
        _incident(
            session,
            base + 3 * day,
            Severity.SEV3,
            Source.MANUAL,
            "alerts-evaluate",
            "C",
            {res: 20},
            signature=SIGNATURE,
        ),
        _incident(
            session, base + 4 * day, Severity.SEV4, Source.CHAOS_DRILL, ingest, "D", {ack: 1, res: 5}, is_drill=True
        ),
    ]
    add_action(session, made[0], type="prevent", owner="ana", due=(base + day).date(), text="retry S3 reads")
    add_action(session, made[1], type="mitigate", owner="bo", due=(base + 20 * day).date(), text="page earlier")
    done = add_action(session, made[2], type="process", owner="cy", due=(base + day).date(), text="update runbook")
    complete_action(session, done, at=base + day)
    session.flush()
    return made
