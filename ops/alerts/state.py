"""The alerts that are firing now, kept between evaluations in ``<SLUICE_HOME>/alerts/state.json``.

The file is replaced atomically (written aside, then renamed), so a crash
mid-write leaves the previous state.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True)
class ActiveAlert:
    dedup_key: str
    rule_id: str
    summary: str
    severity: str
    runbook: str
    metric: str
    labels: dict[str, str]
    since: datetime
    value: float | None
    expected: float | None
    updated_at: datetime


class AlertState:
    """Firing alerts by dedup key."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, ActiveAlert]:
        if not self.path.is_file():
            return {}
        raw = json.loads(self.path.read_text(encoding="utf-8"))
        out = {}
        for key, item in raw.items():
            item.update(
                since=datetime.fromisoformat(item["since"]), updated_at=datetime.fromisoformat(item["updated_at"])
            )
            out[key] = ActiveAlert(**item)
        return out

    def save(self, firing: dict[str, ActiveAlert]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {}
        for key, alert in sorted(firing.items()):
            item = asdict(alert)
            item.update(since=alert.since.isoformat(), updated_at=alert.updated_at.isoformat())
            data[key] = item
        partial = self.path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(partial, self.path)
