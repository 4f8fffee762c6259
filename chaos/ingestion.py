"""Running the real ``ingest-files`` flow inside a drill, tagged so its failures open drill incidents.

Every run is a real Prefect flow run on the drill's Dask cluster, reading the
drill's S3 source through the fault proxy and writing the drill's own lake. It
carries the tags ``chaos-drill`` (the failure hook then opens the incident with
source ``chaos-drill`` and ``is_drill=True``) and ``drill-<id>``.

A run is *isolated* when it must talk to the Prefect API through a fault proxy:
it then runs in a child process (``python -m chaos.ingestion``) whose
``PREFECT_API_URL`` is the proxy, so every client of that process, the flow
engine's included, loses the API when the proxy goes down.

A run never raises for a failed flow: its :class:`RunOutcome` is what the
outcome and alerting hypotheses judge.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaos.stack import DrillStack, drill_environment
from flows.hooks import DRILL_TAG

if TYPE_CHECKING:
    from chaos.drill import Drill

PATTERN = "*.csv"
ISOLATED_TIMEOUT = 600
KILLED = "Killed"  # the state of a run whose process the drill SIGKILLed


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class RunOutcome:
    """How one ingestion run of the drill ended."""

    label: str
    state: str  # a Prefect state name (Completed, Failed, Crashed...) or NotStarted
    started_at: datetime
    ended_at: datetime
    flow_run_id: str | None = None
    message: str = ""
    rows_read: int = 0
    files_failed: int = 0
    sources: list[str] = dataclasses.field(default_factory=list)  # files at the source when the run started

    @property
    def completed(self) -> bool:
        return self.state == "Completed"

    @property
    def failed(self) -> bool:
        return not self.completed

    @property
    def killed(self) -> bool:
        """The drill SIGKILLed the run's process on purpose (a fault, not a failure Sluice reports)."""
        return self.state == KILLED

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["detail"] = f"{self.label}: {self.state}" + (f" ({self.message[:200]})" if self.failed else "")
        data["started_at"], data["ended_at"] = self.started_at.isoformat(), self.ended_at.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunOutcome:
        times = {k: datetime.fromisoformat(data[k]) for k in ("started_at", "ended_at")}
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in {**data, **times}.items() if k in fields})


@dataclass(frozen=True)
class RunRequest:
    """What an ingestion run of the drill needs, small enough to hand to a child process."""

    label: str
    dataset: str
    source: str
    storage_options: dict[str, Any]
    dask_address: str
    tags: tuple[str, ...]


def request_for(stack: DrillStack, label: str, drill_tag: str) -> RunRequest:
    return RunRequest(
        label, stack.dataset, stack.source_uri, stack.source_options(), stack.dask_address, (DRILL_TAG, drill_tag)
    )


def _outcome(request: RunRequest, state: Any, started: datetime) -> RunOutcome:
    out = RunOutcome(
        request.label,
        state.name,
        started,
        utcnow(),
        message=(state.message or "")[:500],
        flow_run_id=str(state.state_details.flow_run_id) if state.state_details.flow_run_id else None,
    )
    if state.is_completed():
        report = state.result(raise_on_failure=False)
        out.rows_read = int(getattr(report, "rows_read", 0))
        out.files_failed = len(getattr(report, "files_failed", []))
    return out


def run_here(request: RunRequest) -> RunOutcome:
    """Run ``ingest-files`` in this process with the drill's tags (settings must point at the drill)."""
    from prefect import tags
    from prefect_dask.task_runners import DaskTaskRunner

    from flows.ingest_files import ingest_files

    started = utcnow()
    # prefect-dask subclasses a bare TaskRunner, which its type default makes a TaskRunner of thread futures.
    flow = ingest_files.with_options(
        task_runner=DaskTaskRunner(address=request.dask_address),  # type: ignore[arg-type]
        flow_run_name=f"chaos-{request.tags[-1]}-{request.label}",
    )
    try:
        with tags(*request.tags):
            state = flow(
                request.dataset,
                request.source,
                pattern=PATTERN,
                storage_options=request.storage_options,
                return_state=True,
            )
    except Exception as exc:  # noqa: BLE001 - the run could not even be created (e.g. the API refused the first call)
        return RunOutcome(request.label, "NotStarted", started, utcnow(), message=f"{type(exc).__name__}: {exc}")
    return _outcome(request, state, started)


def run_ingest(stack: DrillStack, request: RunRequest, *, api_url: str | None = None) -> RunOutcome:
    """Run one ingestion for the drill: here, or in a child process when ``api_url`` reroutes the API."""
    if api_url is None:
        with drill_environment(stack):
            return run_here(request)
    env = {
        **os.environ,
        **stack.environment(),
        "PREFECT_API_URL": api_url,
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")]),
    }
    started = utcnow()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "chaos.ingestion", json.dumps(dataclasses.asdict(request))],
            env=env,
            capture_output=True,
            text=True,
            timeout=ISOLATED_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return RunOutcome(request.label, "TimedOut", started, utcnow(), message="the isolated run did not finish")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return RunOutcome(request.label, "NotStarted", started, utcnow(), message=" | ".join(tail)[:500])
    return RunOutcome.from_dict(json.loads(lines[-1]))


def ingest(drill: Drill, *, label: str, isolated_api: bool = False) -> RunOutcome:
    """Run ``ingest-files`` once for ``drill`` and remember the outcome (with the files the run could see)."""
    from chaos.source import delivered

    stack = drill.stack
    sources = [f"s3://{stack.bucket}/{key}" for key in delivered(stack) if key.endswith(".csv")]
    api_url = stack.prefect_api_url() if isolated_api else None
    outcome = run_ingest(stack, request_for(stack, label, drill.tag), api_url=api_url)
    outcome.sources = sources
    drill.runs.append(outcome)
    return outcome


def _main(argv: list[str]) -> int:
    data = json.loads(argv[0])
    request = RunRequest(**{**data, "tags": tuple(data["tags"])})
    print(json.dumps(run_here(request).to_dict()), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
