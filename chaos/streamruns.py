"""Running the real ``ingest-stream`` flow inside a drill, through the broker's fault proxy, tagged for the drill.

Like :mod:`chaos.ingestion`, every run is a real Prefect flow run with the
tags ``chaos-drill`` and ``drill-<id>`` (a failure opens a drill incident),
writing the drill's own lake, and a failed flow run is an outcome, never an
exception. A run either happens in this process (:func:`run_stream`) or in a
child process (``python -m chaos.streamruns``, :func:`start_child`) that a
drill can SIGKILL mid-batch: its outcome is then ``Killed``.

Kafka runs go straight to the brokers, wait longer before they call the topic
idle (a group's first join: a real broker holds it for
``group.initial.rebalance.delay.ms``, 3 s), and each consumes in a consumer
group of its own (``sluice-<label>``): a SIGKILLed member holds its group's
partitions until the session timeout (45 s by default), and librdkafka's mock
cluster holds a group's rebalance that long even after its last member left,
so a next run in the same group would sit idle. Each run therefore starts
every partition at the position the lake recorded (the earliest offset where
the lake holds none): the lake, not a group's offsets, decides where it resumes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaos.ingestion import KILLED, RunOutcome, utcnow
from chaos.stack import drill_environment
from flows.hooks import DRILL_TAG

if TYPE_CHECKING:
    from chaos.drill import Drill
    from chaos.streams import DrillStream

IDLE_SECONDS = 1.5
KAFKA_IDLE_SECONDS = 5.0
GROUP = "sluice"  # ingest-stream's default consumer group


@dataclass(frozen=True)
class StreamRunRequest:
    """One ``ingest-stream`` run of a drill stream, small enough to hand to a child process."""

    label: str
    dataset: str
    broker: str
    topic: str
    address: str
    tags: tuple[str, ...]
    value_format: str = "json"
    max_records: int = 25
    max_deliveries: int | None = None
    idle_seconds: float = IDLE_SECONDS
    group: str = GROUP

    @property
    def flow_run_name(self) -> str:
        return f"chaos-{self.tags[-1]}-{self.broker}-{self.label}"


def request_for(drill: Drill, stream: DrillStream, label: str, max_records: int = 25) -> StreamRunRequest:
    kafka = stream.broker == "kafka"
    return StreamRunRequest(
        label,
        drill.stack.dataset,
        stream.broker,
        stream.name,
        stream.proxied_url(),
        (DRILL_TAG, drill.tag),
        stream.value_format,
        max_records,
        stream.max_deliveries,
        KAFKA_IDLE_SECONDS if kafka else IDLE_SECONDS,
        f"{GROUP}-{label}" if kafka else GROUP,
    )


def run_here(request: StreamRunRequest) -> RunOutcome:
    """Run ``ingest-stream`` in this process with the drill's tags (settings must point at the drill)."""
    from prefect import tags

    from flows.ingest_stream import ingest_stream

    flow = ingest_stream.with_options(flow_run_name=request.flow_run_name)
    extra = {"max_deliveries": request.max_deliveries} if request.max_deliveries else {}
    started = utcnow()
    try:
        with tags(*request.tags):
            state = flow(
                request.dataset,
                request.broker,
                request.topic,
                address=request.address,
                group=request.group,
                idle_seconds=request.idle_seconds,
                max_records=request.max_records,
                max_wait_seconds=0.2,
                value_format=request.value_format,
                return_state=True,
                **extra,
            )
    except Exception as exc:  # noqa: BLE001 - the run could not even be created
        return RunOutcome(request.label, "NotStarted", started, utcnow(), message=f"{type(exc).__name__}: {exc}"[:500])
    out = RunOutcome(
        request.label,
        str(state.name),
        started,
        utcnow(),
        message=(state.message or "")[:500],
        flow_run_id=str(state.state_details.flow_run_id) if state.state_details.flow_run_id else None,
    )
    if state.is_completed():
        out.rows_read = int(getattr(state.result(raise_on_failure=False), "rows_read", 0))
    return out


def run_stream(drill: Drill, stream: DrillStream, *, label: str, max_records: int = 25) -> RunOutcome:
    """One ``ingest-stream`` run of ``stream`` into the drill's lake, in this process."""
    with drill_environment(drill.stack):
        out = run_here(request_for(drill, stream, label, max_records))
    drill.runs.append(out)
    return out


def start_child(drill: Drill, stream: DrillStream, *, label: str, max_records: int = 25) -> StreamRunRequest:
    """Start an ``ingest-stream`` run of ``stream`` in a child process (``stream.child``); return its request."""
    from prefect.settings import PREFECT_API_URL

    request = request_for(drill, stream, label, max_records)
    env = {
        **os.environ,
        **drill.stack.environment(),
        "PREFECT_API_URL": str(PREFECT_API_URL.value() or ""),
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")]),
    }
    stream.child = subprocess.Popen(
        [sys.executable, "-m", "chaos.streamruns", json.dumps(dataclasses.asdict(request))],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    return request


def killed(drill: Drill, request: StreamRunRequest, started: Any, detail: str) -> RunOutcome:
    """The outcome of a child run the drill SIGKILLed; its flow run, left Running, is marked Crashed."""
    out = RunOutcome(request.label, KILLED, started, utcnow(), message=detail[:500])
    out.flow_run_id = crash_flow_run(request.flow_run_name, detail)
    drill.runs.append(out)
    return out


def crash_flow_run(name: str, detail: str) -> str | None:
    """Mark the flow run named ``name`` Crashed (its process is gone) and return its id, or None if not found."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
    from prefect.states import Crashed

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name])), limit=1)
        if not runs:
            return None
        client.set_flow_run_state(runs[0].id, Crashed(message=detail), force=True)
        return str(runs[0].id)


def _main(argv: list[str]) -> int:
    data = json.loads(argv[0])
    request = StreamRunRequest(**{**data, "tags": tuple(data["tags"])})
    print(json.dumps(run_here(request).to_dict()), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
