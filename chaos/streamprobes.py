"""Probes of the stream drills: the lake holds each produced message exactly once, poison where it belongs.

Every probe returns ``{"status": "held" | "broken", "detail": ...}`` like
:mod:`chaos.probes` (whose ``outcome`` and ``alerting`` stream drills use as
they are). :func:`conservation` judges with :mod:`chaos.streamparity`: while
the method runs the lake may be behind what was produced (a run is yet to
come), but it may never hold a message twice or one that was not produced as
good; after the method, behind is broken too.
"""

from __future__ import annotations

from typing import Any

from chaos.drill import Phase, current
from chaos.probes import _verdict
from chaos.streamactions import send_good
from chaos.streamparity import stream_parity
from chaos.streamruns import run_stream

PENDING = (Phase.SETUP, Phase.BEFORE, Phase.METHOD)


def conservation(configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Each good message produced once in the lake; each poison message in the quarantine or the dead letters."""
    drill = current()
    streams = list(drill.stack.streams.values())
    if not streams:
        return _verdict(True, "nothing produced yet")
    parity = stream_parity(drill.stack, streams)
    facts = {"produced": parity.produced, "landed": parity.landed}
    if parity.held or parity.wrong or drill.phase not in PENDING:
        return _verdict(parity.held, parity.summary(), **facts)
    return _verdict(True, f"{parity.landed:,} of {parity.produced:,} in the lake so far: a run is yet to come", **facts)


def next_stream_run_is_clean(messages: int = 100, configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Recovery: after the rollbacks, new orders on every drill stream and a normal run each leave the lake exact."""
    drill = current()
    runs = []
    for stream in drill.stack.streams.values():
        if stream.value_format == "json":
            send_good(stream, messages)
        runs.append(run_stream(drill, stream, label=f"recovery-{stream.broker}"))
    failed = [r for r in runs if not r.completed]
    if failed:
        return _verdict(False, f"the next normal run ended {failed[0].state}: {failed[0].message[:300]}")
    parity = stream_parity(drill.stack, list(drill.stack.streams.values()))
    return _verdict(parity.held, f"the next normal run(s) completed; {parity.summary()}")
