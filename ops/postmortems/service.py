"""Writing, storing and publishing postmortems. Plain functions over a session the caller owns.

``create_postmortem`` gathers the facts (run records, the Prefect state
history, alert transitions, the incident's own timeline), renders the
Markdown and stores it in the incident's ``Postmortem`` row.
``publish_postmortem`` writes the stored Markdown to a file and attaches it
to Prefect as a markdown artifact. Nothing here commits: the caller's
transaction does.

A caller that must not hold the store's locks while the facts are read over
the network drafts with :func:`draft_postmortem` outside any transaction and
stores the draft with :func:`save_postmortem` in a short one. Of two
concurrent saves of one incident's first postmortem, one stores it and the
other is refused (or, replacing, overwrites it), settled by the unique
postmortem per incident.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session, selectinload

from ops.alerts.events import AlertEvent
from ops.errors import PostmortemError
from ops.incidents.db import store_identity
from ops.incidents.models import Incident, Postmortem, utcnow
from ops.incidents.service import ensure_incident
from ops.postmortems.flowrun import (
    ArtifactOutcome,
    publish_artifact,
    read_state_history,
)
from ops.postmortems.impact import (
    impact_unavailable,
    measure_durations,
    measure_impact,
    runs_for,
    window_end,
)
from ops.postmortems.models import PostmortemFacts, StateHistory
from ops.postmortems.render import PROMPT, render_markdown
from ops.postmortems.timeline import (
    alert_transitions,
    merge_timeline,
    read_alert_events,
)
from sluice.display import artifact_key as key_of
from sluice.runs.records import RunReport


@dataclass(frozen=True)
class FactSources:
    """Where the facts of a postmortem are read from.

    Attributes:
        home: the Sluice home, whose ``alerts/events.jsonl`` holds alert transitions.
        metadata_url: the metadata store holding the run records.
        api_url: the Prefect API, or None when none is configured.
    """

    home: Path
    metadata_url: str
    api_url: str | None


@dataclass(frozen=True)
class Drafted:
    """A postmortem just written, with the facts it was written from."""

    postmortem: Postmortem
    facts: PostmortemFacts


@dataclass(frozen=True)
class Draft:
    """A rendered postmortem not stored yet, with the facts it was written from."""

    markdown: str
    facts: PostmortemFacts


@dataclass(frozen=True)
class PostmortemSummary:
    """One stored postmortem as ``ops postmortem list`` shows it."""

    incident: str
    title: str
    severity: str
    incident_status: str
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    path: str | None
    prompts_left: int

    @classmethod
    def of(cls, postmortem: Postmortem) -> PostmortemSummary:
        i = postmortem.incident
        return cls(
            i.ref,
            i.title,
            i.severity.value,
            i.status.value,
            postmortem.created_at,
            postmortem.updated_at,
            postmortem.published_at,
            postmortem.path,
            postmortem.markdown.count(PROMPT),
        )


@dataclass(frozen=True)
class Publication:
    """A postmortem written to a file, and (once attached) its Prefect artifact.

    It carries what the artifact needs, so it can be attached after the
    store's transaction has ended (no lock is held across a network call).
    """

    incident: str
    path: Path
    published_at: datetime
    artifact_key: str
    flow_run_id: str | None
    description: str
    markdown: str = field(repr=False)
    artifact: ArtifactOutcome | None = None


def artifact_key(incident: Incident) -> str:
    """The key of the incident's postmortem artifact: ``<env>-postmortem-<store>-inc-<id>``.

    ``<store>`` is the identity of the incident's store (:func:`~ops.incidents.db.store_identity`),
    so the postmortems of INC-3 in two stores are two artifacts.
    """
    session = object_session(incident)
    bind = session.get_bind() if session is not None else None
    store = store_identity(bind.engine.url) if bind is not None else None
    return key_of(incident.environment, "postmortem", store, "inc", str(incident.id))


def default_path(home: Path, incident: Incident) -> Path:
    """``<home>/postmortems/INC-<id>.md``."""
    return home / "postmortems" / f"{incident.ref}.md"


def assemble_facts(
    incident: Incident,
    *,
    runs: Sequence[RunReport],
    history: StateHistory,
    alerts: Sequence[AlertEvent],
    now: datetime,
    runs_unavailable: str = "",
) -> PostmortemFacts:
    """The facts of a postmortem from what was already read; ``runs_unavailable`` says why runs are missing."""
    impact = (
        impact_unavailable(incident, runs_unavailable, now=now)
        if runs_unavailable
        else measure_impact(incident, runs, now=now)
    )
    rules = tuple(dict.fromkeys(a.rule_id for a in alerts))
    return PostmortemFacts(
        generated_at=now,
        timeline=tuple(merge_timeline(incident, history, alerts)),
        history=history,
        impact=impact,
        durations=measure_durations(incident, runs, history, alerts),
        alert_rules=rules,
    )


def _read_runs(metadata_url: str, incident: Incident, until: datetime) -> tuple[list[RunReport], str]:
    if not incident.dataset and not incident.flow_run_id:
        return [], "the incident names no dataset and no flow run"
    from sluice.runs.metastore import engine_for

    try:
        with engine_for(metadata_url).connect() as conn:
            return runs_for(conn, incident, until), ""
    except (sa.exc.SQLAlchemyError, OSError) as exc:
        detail = (str(exc).strip().splitlines() or [""])[0]
        return [], f"the metadata store could not be read ({type(exc).__name__}: {detail})"


def collect_facts(incident: Incident, sources: FactSources, *, now: datetime | None = None) -> PostmortemFacts:
    """Read every source of facts about ``incident``; a source that cannot be read is named in the facts."""
    now = now or utcnow()
    until = window_end(incident, now)
    history = read_state_history(incident.flow_run_id, api_url=sources.api_url)
    alerts = alert_transitions(read_alert_events(sources.home), incident.dedup_key, incident.opened_at, until)
    runs, problem = _read_runs(sources.metadata_url, incident, until)
    return assemble_facts(incident, runs=runs, history=history, alerts=alerts, now=now, runs_unavailable=problem)


def _exists(incident: Incident, created_at: datetime | None) -> PostmortemError:
    created = f" (created {created_at:%Y-%m-%d %H:%M} UTC)" if created_at else ""
    return PostmortemError(
        f"{incident.ref} already has a postmortem{created}",
        hint=f"`ops postmortem show {incident.ref}` prints it; add --force to regenerate it from the current facts",
    )


def ensure_replaceable(incident: Incident, *, replace: bool) -> None:
    """Refuse to overwrite an existing postmortem unless ``replace`` is true.

    Raises:
        PostmortemError: the incident has a postmortem already and ``replace`` is false.
    """
    current = incident.postmortem
    if current is not None and not replace:
        raise _exists(incident, current.created_at)


def _insert(session: Session, incident: Incident, markdown: str, now: datetime) -> Postmortem | None:
    """The incident's first postmortem, or None when a concurrent save stored one first."""
    row = Postmortem(incident_id=incident.id, created_at=now, updated_at=now, markdown=markdown)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return None
    session.expire(incident, ["postmortem"])
    return row


def save_postmortem(
    session: Session, incident: Incident, markdown: str, *, replace: bool = False, now: datetime | None = None
) -> Postmortem:
    """Store ``markdown`` as the incident's postmortem, keeping its creation time when replacing.

    Raises:
        PostmortemError: the incident has a postmortem already (perhaps stored a moment ago by a
            concurrent save) and ``replace`` is false.
    """
    ensure_replaceable(incident, replace=replace)
    now = now or utcnow()
    if incident.postmortem is None:
        if (created := _insert(session, incident, markdown, now)) is not None:
            return created
        session.expire(incident, ["postmortem"])
        ensure_replaceable(incident, replace=replace)
    current = incident.postmortem
    if current is None:  # stored and deleted again by others meanwhile
        raise PostmortemError(
            f"the postmortem of {incident.ref} changed while it was being saved", hint="run the command again"
        )
    current.markdown, current.updated_at = markdown, now
    session.flush()
    return current


def draft_postmortem(incident: Incident, sources: FactSources, *, now: datetime | None = None) -> Draft:
    """Gather the facts of ``incident`` and render its postmortem, without storing it (no session needed)."""
    facts = collect_facts(incident, sources, now=now or utcnow())
    return Draft(render_markdown(incident, facts), facts)


def create_postmortem(
    session: Session, incident: Incident, sources: FactSources, *, replace: bool = False, now: datetime | None = None
) -> Drafted:
    """Gather the facts of ``incident``, render its postmortem and store it (see :func:`save_postmortem`)."""
    ensure_replaceable(incident, replace=replace)
    now = now or utcnow()
    draft = draft_postmortem(incident, sources, now=now)
    postmortem = save_postmortem(session, incident, draft.markdown, replace=replace, now=now)
    session.flush()
    return Drafted(postmortem, draft.facts)


def ensure_postmortem(session: Session, ref: str | int) -> Postmortem:
    """The postmortem of incident ``ref``.

    Raises:
        IncidentError: no such incident.
        PostmortemError: the incident has no postmortem yet.
    """
    incident = ensure_incident(session, ref)
    if incident.postmortem is None:
        raise PostmortemError(
            f"{incident.ref} has no postmortem yet", hint=f"`ops postmortem create {incident.ref}` writes one"
        )
    return incident.postmortem


def list_postmortems(session: Session) -> list[Postmortem]:
    """Every postmortem, newest first, with its incident loaded."""
    query = (
        sa.select(Postmortem)
        .options(selectinload(Postmortem.incident))
        .order_by(Postmortem.created_at.desc(), Postmortem.id.desc())
    )
    return list(session.scalars(query))


def publish_postmortem(
    session: Session, postmortem: Postmortem, path: Path, *, now: datetime | None = None
) -> Publication:
    """Write the stored Markdown to ``path`` and record the publication on the row.

    Attach it to Prefect with :func:`attach_publication` once the transaction
    is committed.

    Raises:
        PostmortemError: the file cannot be written.
    """
    now = now or utcnow()
    incident = postmortem.incident
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(postmortem.markdown, encoding="utf-8")
    except OSError as exc:
        raise PostmortemError(
            f"cannot write {path}: {exc.strerror or exc}", hint="choose another file with --out"
        ) from None
    postmortem.path, postmortem.published_at = str(path), now
    session.flush()
    return Publication(
        incident.ref,
        path,
        now,
        artifact_key(incident),
        incident.flow_run_id,
        f"Postmortem of {incident.ref}: {incident.title}",
        postmortem.markdown,
    )


def attach_publication(publication: Publication, *, api_url: str | None) -> Publication:
    """``publication`` with its markdown artifact created on the Prefect API (or the reason it was not).

    The artifact is keyed ``<env>-postmortem-<store>-inc-<id>`` and linked to the incident's
    flow run when the API knows that run; it never raises.
    """
    artifact = publish_artifact(
        publication.markdown,
        key=publication.artifact_key,
        description=publication.description,
        flow_run_id=publication.flow_run_id,
        api_url=api_url,
    )
    return replace(publication, artifact=artifact)
