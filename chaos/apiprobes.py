"""Probes of the API drills: the lake holds every record the drill's API holds exactly once.

Every probe returns ``{"status": "held" | "broken", "detail": ...}`` like
:mod:`chaos.probes` (whose ``outcome`` and ``alerting`` API drills use as they
are). :func:`conservation` reads the API straight (never through the proxy)
and the drill's lake: while the method runs the lake may be behind the API (a
run is yet to come), but it may never hold a record twice or one the API does
not hold; after the method, behind is broken too.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from chaos.apiactions import run_api
from chaos.apisource import DrillApi, ensure_drill_api
from chaos.drill import Phase, current
from chaos.probes import _verdict

PENDING = (Phase.SETUP, Phase.BEFORE, Phase.METHOD)
SHOWN = 3


@dataclass(frozen=True)
class ApiParity:
    """The drill's lake against what its API holds: keys held, landed, missing, twice, and not at the API."""

    source: str
    held: int
    landed: int
    missing: list[tuple[object, ...]]
    twice: list[tuple[object, ...]]
    strangers: list[tuple[object, ...]]

    @property
    def exact(self) -> bool:
        return not (self.missing or self.twice or self.strangers)

    @property
    def wrong(self) -> bool:
        return bool(self.twice or self.strangers)

    def summary(self) -> str:
        if self.exact:
            return f"each of the {self.held:,} record(s) {self.source} holds is in the lake once"
        parts = [
            f"{len(found):,} {what} (e.g. {', '.join(map(str, found[:SHOWN]))})"
            for what, found in (
                ("missing", self.missing),
                ("in the lake twice or more", self.twice),
                ("in the lake but not at the API", self.strangers),
            )
            if found
        ]
        return f"{self.source}: {self.landed:,} landed of {self.held:,} held; " + "; ".join(parts)


def api_parity(api: DrillApi, held: Counter[tuple[object, ...]], landed: Counter[tuple[object, ...]]) -> ApiParity:
    return ApiParity(
        api.source,
        len(held),
        sum(landed.values()),
        sorted((k for k in held if k not in landed), key=str),
        sorted((k for k, n in landed.items() if n > 1), key=str),
        sorted((k for k in landed if k not in held), key=str),
    )


def _parity(api: str | None, endpoint: str | None) -> ApiParity:
    drill = current()
    target = ensure_drill_api(drill.stack, api, endpoint)
    return api_parity(target, target.held(), target.landed(drill.stack))


def conservation(
    api: str | None = None, endpoint: str | None = None, configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Each record the drill's API holds is in the drill's lake once, and nothing else is."""
    drill = current()
    parity = _parity(api, endpoint)
    facts = {"at_api": parity.held, "in_lake": parity.landed}
    if parity.exact or parity.wrong or drill.phase not in PENDING:
        return _verdict(parity.exact, parity.summary(), **facts)
    return _verdict(True, f"{parity.landed:,} of {parity.held:,} in the lake so far: a run is yet to come", **facts)


def next_api_run_is_clean(
    api: str | None = None, endpoint: str | None = None, configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Recovery: after the rollbacks, a normal ``ingest-api`` run completes and the lake matches the API."""
    drill = current()
    run = run_api(drill, ensure_drill_api(drill.stack, api, endpoint), "recovery")
    if not run.completed:
        return _verdict(False, f"the next normal run ended {run.state}: {run.message[:300]}", state=run.state)
    parity = _parity(api, endpoint)
    return _verdict(parity.exact, f"the next normal run completed; {parity.summary()}", state=run.state)
