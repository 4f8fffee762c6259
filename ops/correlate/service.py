"""Correlation around an incident or a flow run: the window from the metrics store, the result on the timeline.

The failure time of an incident is when its alert's trouble began (the
``onset`` on its timeline), else when it opened (or its first timeline
event); of a flow run, when it failed or crashed (or ended), and its window
starts no earlier than the run, so that other runs of the flow stay out. The
scope is the run's labels (``flow``, ``dataset``) on Sluice's host and
process metrics (``sluice_host_*``, ``sluice_process_*``).

When the scope's own series cannot carry the ranking (none match, they end
long before the failure, or too few rows lie before it: a run that failed
before its sampler read anything), the host-level series of the scope's host
are read instead: those the sampler service (:mod:`ops.metrics.service`)
writes, with no ``dataset`` or ``flow`` label. The result's notes say so.
Every hint speaks in the command's terms (``add --before 45m``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, NoReturn

from ops.correlate.frame import frame_from_series, prepare_frame
from ops.correlate.models import CorrelateConfig, CorrelationResult, WideFrame
from ops.correlate.rank import correlate_prepared
from ops.correlate.resources import resource_of
from ops.correlate.window import HistoryProblem, history_hint, history_problem
from ops.errors import CorrelateInputError
from ops.metrics.models import Matcher, MatchOp, Selector

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ops.incidents.models import Incident, TimelineEvent
    from ops.metrics.models import Series
    from ops.metrics.store import MetricsStore

INFRASTRUCTURE = r"sluice_(host|process)_.+"
GRACE = timedelta(seconds=60)
WEAK_Z = 3.0  # a level shift smaller than this many robust σ is weak evidence of a cause
"""A run's failure is recorded a moment after its sampler stops; this much later still counts as inside the data."""
HOST_LOOKBACK = timedelta(days=7)
"""How far back the scope's own series are looked up to learn which host it ran on."""


@dataclass(frozen=True)
class Scope:
    """What to correlate: the failure instant, which series, and where it came from (for messages)."""

    failure_at: datetime
    labels: dict[str, str] = field(default_factory=dict)
    source: str = ""
    start: datetime | None = None
    """When the scope began (a flow run's start): nothing earlier is read, so other runs stay out."""
    alerted_at: datetime | None = None
    """When an alert fired on trouble that began at ``failure_at``: what began to move from then on
    followed the alert (a run it started, a retry) and is an effect."""

    def selector(self, base: Selector | None = None) -> Selector:
        """``base`` (default: Sluice's host and process metrics) narrowed to this scope's labels."""
        base = base or Selector(None, (Matcher("__name__", MatchOp.REGEX, INFRASTRUCTURE),))
        extra = tuple(Matcher(k, MatchOp.EQUAL, v) for k, v in sorted(self.labels.items()) if v)
        return Selector(base.metric, base.matchers + extra)


def incident_scope(incident: Incident) -> Scope:
    """The failure time and labels of an incident: when its alert's trouble began (its onset), else when it
    opened, else its first timeline event. An alert fires a trigger window after the trouble began, and what
    ran in between (a flow started by the alert, say) is an effect, not a cause."""
    from ops.incidents.models import ONSET

    onset = min((e.at for e in incident.timeline if e.kind == ONSET), default=None)
    at = onset or incident.opened_at or (incident.timeline[0].at if incident.timeline else None)
    if at is None:
        raise CorrelateInputError(f"{incident.ref} has no opening time", hint="open incidents with `ops incident`")
    labels = {"flow": incident.flow_name or "", "dataset": incident.dataset or ""}
    alerted = incident.opened_at if onset is not None else None
    return Scope(at, {k: v for k, v in labels.items() if v}, incident.ref, alerted_at=alerted)


def flow_run_scope(flow_run_id: str) -> Scope:
    """The failure (or end) time and labels of a flow run, from the Prefect API.

    Raises:
        CorrelateInputError: the id is not a flow run id, the API has no such run, or it cannot be reached.
    """
    import uuid

    from prefect import get_client
    from prefect.exceptions import ObjectNotFound

    try:
        run_id = uuid.UUID(flow_run_id)
    except ValueError:
        raise CorrelateInputError(
            f"{flow_run_id!r} is not a flow run id", hint="flow run ids are UUIDs; `ops runs list` shows them"
        ) from None
    try:
        with get_client(sync_client=True) as client:
            run = client.read_flow_run(run_id)
            flow = client.read_flow(run.flow_id)
    except ObjectNotFound:
        raise CorrelateInputError(f"no flow run {flow_run_id}", hint="check the id and PREFECT_API_URL") from None
    except Exception as exc:  # noqa: BLE001 - the API may be down: say so rather than fail obscurely
        raise CorrelateInputError(
            f"cannot read flow run {flow_run_id} from the Prefect API: {exc}",
            hint="start the server or set PREFECT_API_URL",
        ) from None
    state = run.state
    failed = state is not None and (state.is_failed() or state.is_crashed())
    at = state.timestamp if failed and state is not None else (run.end_time or (state.timestamp if state else None))
    if at is None:
        raise CorrelateInputError(f"flow run {flow_run_id} has not started", hint="correlate a run that ran")
    dataset = (run.parameters or {}).get("dataset")
    labels = {"flow": flow.name, **({"dataset": str(dataset)} if dataset else {})}
    return Scope(at, labels, f"flow run {run.name}", run.start_time)


@dataclass(frozen=True)
class ReadWindow:
    """A prepared window and what the reader should know about it (host-level series read instead, and why)."""

    frame: WideFrame
    notes: tuple[str, ...] = ()


def _bounds(scope: Scope, before: timedelta, after: timedelta) -> tuple[datetime, datetime]:
    start = max(scope.failure_at - before, scope.start) if scope.start else scope.failure_at - before
    return start, scope.failure_at + after


def _prepared(series: list[Series], step: timedelta | None, min_values: int = CorrelateConfig().min_rows) -> WideFrame:
    """The series on one grid, prepared; a column needs ``min_values`` values, as many as the window needs rows."""
    step_ns = int(step.total_seconds() * 1e9) if step else None
    return prepare_frame(frame_from_series(series, step_ns), min_values)


def read_window(
    store: MetricsStore,
    scope: Scope,
    *,
    before: timedelta,
    after: timedelta,
    selector: Selector | None = None,
    step: timedelta | None = None,
) -> WideFrame:
    """The scope's series in ``[failure - before, failure + after]`` on one grid, prepared for ranking.

    Raises:
        CorrelateInputError: no series matches in the window.
    """
    wanted = scope.selector(selector)
    series = store.query_range(wanted, *_bounds(scope, before, after))
    if not series:
        raise CorrelateInputError(
            f"no metrics match {wanted} around {scope.failure_at.isoformat()}",
            hint="widen --before/--after, or check that the run was sampled "
            "(SLUICE_METRICS_SAMPLER) with `ops metrics list`",
        )
    return _prepared(series, step)


def host_selector(hosts: list[str]) -> Selector:
    """Sluice's host and process metrics of ``hosts`` that carry no ``dataset`` or ``flow`` label (the service's)."""
    pattern = "|".join(re.escape(h) for h in sorted(set(hosts)))
    return Selector(
        None,
        (
            Matcher("__name__", MatchOp.REGEX, INFRASTRUCTURE),
            Matcher("dataset", MatchOp.EQUAL, ""),
            Matcher("flow", MatchOp.EQUAL, ""),
            Matcher("host", MatchOp.REGEX, pattern),
        ),
    )


def scope_hosts(store: MetricsStore, wanted: Selector, failure_at: datetime) -> list[str]:
    """The hosts the scope's series were sampled on (in the week before the failure), else this host."""
    import socket

    found = store.series(wanted, start=failure_at - HOST_LOOKBACK, end=failure_at + GRACE)
    hosts = sorted({info.labels["host"] for info in found if info.labels.get("host")})
    return hosts or [socket.gethostname()]


def read_usable_window(
    store: MetricsStore,
    scope: Scope,
    *,
    before: timedelta,
    after: timedelta,
    selector: Selector | None = None,
    step: timedelta | None = None,
    config: CorrelateConfig | None = None,
) -> ReadWindow:
    """The scope's window when it holds enough history; else, for the default selector, the host-level series
    of the scope's host (the sampler service's, keyed to no dataset or flow), with a note saying so.

    Raises:
        CorrelateInputError: neither holds enough history around the failure; the hint says what to add.
    """
    config = config or CorrelateConfig(failure_grace_seconds=GRACE.total_seconds())
    wanted = scope.selector(selector)
    start, end = _bounds(scope, before, after)
    frame, problem = _read(store, wanted, start, end, step, scope.failure_at, config)
    if frame is not None and problem is None:
        return ReadWindow(frame)
    why = f"no metrics match {wanted}" if frame is None else f"{wanted}: {problem.reason if problem else ''}"
    if selector is not None or not scope.labels:  # a selector given, or the host-level series read already
        _refuse(why, scope, problem, start, before)
    hosts = scope_hosts(store, wanted, scope.failure_at)
    fallback = host_selector(hosts)
    wide_start = scope.failure_at - before
    host_frame, host_problem = _read(store, fallback, wide_start, end, step, scope.failure_at, config)
    if host_frame is None:
        _refuse(f"{why}, nor any host-level series {fallback}", scope, problem, wide_start, before)
    if host_problem is not None:
        _refuse(f"{why}; host-level {fallback}: {host_problem.reason}", scope, host_problem, wide_start, before)
    note = (
        f"{why} around {scope.failure_at.isoformat()}; read the host-level series of "
        f"{', '.join(hosts)} instead (no dataset or flow label: the sampler service's)"
    )
    return ReadWindow(host_frame, (note,))


def _read(
    store: MetricsStore,
    wanted: Selector,
    start: datetime,
    end: datetime,
    step: timedelta | None,
    failure_at: datetime,
    config: CorrelateConfig,
) -> tuple[WideFrame | None, HistoryProblem | None]:
    """The window's frame (None: no series) and what its history lacks (None: enough)."""
    series = store.query_range(wanted, start, end)
    if not series:
        return None, None
    frame = _prepared(series, step, config.min_rows)
    return frame, history_problem(frame, failure_at, config)


def _refuse(why: str, scope: Scope, problem: HistoryProblem | None, start: datetime, before: timedelta) -> NoReturn:
    hint = (
        history_hint(problem, start, before)
        if problem is not None
        else "start the sampler service (`ops metrics sampler start`; `make run` starts it), or widen --before/--after"
    )
    raise CorrelateInputError(f"{why} around {scope.failure_at.isoformat()}", hint=hint)


def correlate_scope(
    store: MetricsStore,
    scope: Scope,
    *,
    before: timedelta,
    after: timedelta,
    selector: Selector | None = None,
    step: timedelta | None = None,
    target: str | None = None,
    config: CorrelateConfig | None = None,
) -> tuple[WideFrame, CorrelationResult]:
    """Read the scope's window from ``store`` (:func:`read_usable_window`) and rank its series.

    Returns the prepared frame and the result; the result's notes say when host-level series were read instead.
    """
    config = config or CorrelateConfig(failure_grace_seconds=GRACE.total_seconds())
    window = read_usable_window(store, scope, before=before, after=after, selector=selector, step=step, config=config)
    result = correlate_prepared(
        window.frame, scope.failure_at, target=target, config=config, alerted_at=scope.alerted_at
    )
    return window.frame, replace(result, notes=result.notes + window.notes + _weak(result))


def _weak(result: CorrelationResult) -> tuple[str, ...]:
    """A note when no suspect's level moved :data:`WEAK_Z` robust σ: the cause may not be in these series."""
    largest = max((abs(s.evidence.z) for s in result.suspects), default=0.0)
    if not result.suspects or largest >= WEAK_Z:
        return ()
    return (
        f"no series moved {WEAK_Z:g} robust σ from its baseline (the largest moved {largest:.1f}): the cause may not "
        "be in these metrics; read the run's error (`ops incident show`, `ops runs show`)",
    )


def timeline_text(result: CorrelationResult, top: int = 3) -> str:
    """``correlation: top suspect <metric> (resource=<cpu|memory|network|disk|other>)`` and the top three."""
    best = result.top
    if best is None:
        return "correlation: no suspect (no metric varied in the window)"
    listed = "; ".join(
        f"{i}. {s.metric} score {s.score:.3g} ({s.evidence.timing}, z {s.evidence.z:+.3g})"
        for i, s in enumerate(result.suspects[:top], 1)
    )
    said = f"correlation: top suspect {best.metric} (resource={best.resource or 'other'}); {listed}"
    return said + "".join(f" [{n}]" for n in result.notes)


def record_on_incident(session: Session, incident: Incident, result: CorrelationResult) -> TimelineEvent:
    """Add the result to the incident's timeline (kind ``correlation``, source ``ops``)."""
    from ops.incidents.service import record

    return record(session, incident, "correlation", "ops", timeline_text(result))


def record_once(session: Session, incident: Incident, result: CorrelationResult) -> bool:
    """Record ``result`` unless the incident's timeline already says the same; ``True`` when it was recorded.

    A drill probes its hypotheses more than once; the same finding goes on the timeline once.
    """
    said = {e.text for e in incident.timeline if e.kind == "correlation"}
    if timeline_text(result) in said:
        return False
    record_on_incident(session, incident, result)
    return True


def link_runbook(session: Session, incident: Incident, result: CorrelationResult) -> str | None:
    """Link the best runbook for the incident, now that its top suspect's resource is known, if none is linked."""
    from ops.incidents.service import record
    from ops.respond.service import context_of
    from ops.runbooks.catalog import load_runbooks
    from ops.runbooks.match import best

    if incident.runbook_id or result.top is None:
        return incident.runbook_id
    found = best(context_of(incident, resource_of(result.top.metric)), load_runbooks())
    if found:
        incident.runbook_id = found
        record(session, incident, "runbook", "ops", f"linked runbook {found} (top suspect {result.top.metric})")
    return found


def postmortem_section(result: CorrelationResult, top: int = 5) -> str:
    """Markdown for a postmortem's *Supporting information*: the top suspects and their evidence."""
    lines = [
        f"**Correlation** with the failure at {result.failure_at.isoformat()} "
        f"({result.series} series, {result.start.isoformat()} … {result.end.isoformat()}):",
        "",
    ]
    for i, s in enumerate(result.suspects[:top], 1):
        lines.append(
            f"{i}. `{s.metric}` (resource {s.resource or 'other'}, score {s.score:.3g}): "
            + "; ".join(s.evidence.reasons)
        )
    lines += ["", *(f"_{n}_" for n in result.notes)] if result.notes else []
    if result.skipped:
        lines += ["", f"Skipped: {', '.join(f'`{s.column}` ({s.reason})' for s in result.skipped[:10])}"]
    return "\n".join(lines)
