"""The cause step of the loop in a drill: host samples behind the drill, and each drill incident correlated.

While a drill's stack is up, :class:`HostSampling` samples the host and the
filesystem of the drill's lake every second into the metrics store of
``SLUICE_HOME``: host-level series (``host``, ``environment`` and ``drill``
labels; no ``dataset`` or ``flow``), beside those of the sampler service
(:mod:`ops.metrics.service`) when it runs. So ``ops correlate INC-…`` has
history behind a drill incident, as it has behind a real one. It also samples
what the drill targets: for a drill on the S3 source, the time one request
to the source endpoint takes through the fault proxy
(``sluice_host_network_request_seconds{endpoint="source"}``); for a drill on
the Dask workers, the worker processes of the drill's cluster on this host
(``sluice_process_*`` labelled ``worker``, a killed worker's series stopping
where it died, and ``sluice_host_workers_lost``).

:func:`correlate_incidents` runs ``ops correlate`` on each of the drill's
incidents, records the result on its timeline (and links a runbook where none
is linked), and says whether the top suspect measures the injected resource.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from ops.errors import CorrelateInputError
from sluice.settings import MetricsBackend, get_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from chaos.drill import Drill
    from ops.correlate.models import Suspect
    from ops.metrics.reach import DaskWorkersHere
    from ops.metrics.sampler import Sampler

logger = logging.getLogger(__name__)
SAMPLE_SECONDS = 1.0
BEFORE = timedelta(minutes=30)
AFTER = timedelta(minutes=5)
RANKED = 4
"""How many suspects a finding lists."""
WORKER = "worker"
"""The ``resource`` a drill names when the injected resource is a worker process (its series carry ``worker``)."""


class HostSampling:
    """Host samples into the home's metrics store while the drill's stack is up (see the module)."""

    def __init__(self) -> None:
        self.sampler: Sampler | None = None
        self.workers: DaskWorkersHere | None = None

    def start(
        self,
        drill_id: str,
        lake: Path | None = None,
        *,
        source_url: str | None = None,
        dask_address: str | None = None,
    ) -> HostSampling:
        """Start sampling, labelled ``drill``; the filesystem under ``lake`` too, as ``filesystem="lake"``;
        requests to ``source_url`` (``endpoint="source"``) and the workers of the cluster at ``dask_address``
        when given."""
        from ops.metrics.reach import DaskWorkersHere
        from ops.metrics.sampler import Sampler
        from ops.metrics.store import open_store

        settings = get_settings()
        if settings.metrics.metrics_backend is MetricsBackend.PROMETHEUS:
            return self  # Prometheus scrapes the exporter instead
        store = open_store(settings.metrics, home=settings.home)
        labels = {"environment": settings.env, "drill": drill_id}
        filesystems = {"home": str(settings.home)} | ({"lake": str(lake)} if lake else {})
        self.workers = DaskWorkersHere(dask_address) if dask_address else None
        self.sampler = Sampler(
            store,
            interval=SAMPLE_SECONDS,
            labels=labels,
            flush_interval=SAMPLE_SECONDS,
            filesystems=filesystems,
            endpoints={"source": source_url} if source_url else {},
            discover=self.workers,
        )
        self.sampler.start()
        return self

    def stop(self) -> None:
        if self.sampler is not None:
            self.sampler.stop()
            self.sampler = None
        if self.workers is not None:
            self.workers.close()
            self.workers = None


@dataclass(frozen=True)
class Correlated:
    """One drill incident's correlation: its top suspect and resource, or why there is none."""

    ref: str
    top: str | None
    resource: str | None
    problem: str = ""
    worker: str | None = None
    ranked: tuple[str, ...] = ()
    """The first suspects as ``metric score (timing)``, so a wrong answer shows what it was weighed against."""

    def summary(self) -> str:
        if self.problem:
            return f"{self.ref}: {self.problem}"
        of = f", worker {self.worker}" if self.worker else ""
        ahead = f"; ranked {', '.join(self.ranked)}" if self.ranked else ""
        return f"{self.ref}: top suspect {self.top} (resource {self.resource or 'other'}{of}){ahead}"

    def names(self, resource: str, killed: frozenset[str] = frozenset()) -> bool:
        """Whether the top suspect measures ``resource``; ``worker``: a series of a worker process, of one of
        the ``killed`` workers when the drill killed any."""
        if resource != WORKER:
            return self.resource == resource
        return bool(self.worker) and (not killed or self.worker in killed)


def correlate_incidents(session: Session, drill: Drill) -> list[Correlated]:
    """``ops correlate`` on each of the drill's incidents, recorded on its timeline; one finding per incident."""
    from chaos.incidents import drill_incidents
    from ops.correlate.service import correlate_scope, incident_scope, link_runbook, record_once
    from ops.metrics.store import open_store

    store = open_store(home=get_settings().home)
    found = []
    for incident in drill_incidents(session, drill):
        try:
            _, result = correlate_scope(store, incident_scope(incident), before=BEFORE, after=AFTER)
        except CorrelateInputError as exc:
            found.append(Correlated(incident.ref, None, None, f"{exc} ({exc.hint})"))
            continue
        record_once(session, incident, result)
        link_runbook(session, incident, result)
        top = result.top
        worker = top.labels.get("worker") if top else None
        ranked = tuple(_ranked(s) for s in result.suspects[:RANKED])
        found.append(
            Correlated(incident.ref, top.metric if top else None, top.resource if top else None, "", worker, ranked)
        )
    return found


def _ranked(suspect: Suspect) -> str:
    e = suspect.evidence
    factors = ", ".join(f"{k} {v:.2g}" for k, v in e.factors.items() if v != 1.0)
    return f"{suspect.metric} {suspect.score:.3g} (z {e.z:.3g}, {e.timing} {e.change_offset_seconds:+.3g} s; {factors})"
