"""prefect.yaml schedules the health check on the work pool, with the incident hooks of every flow."""

from __future__ import annotations

import importlib
from pathlib import Path

import yaml

from flows.hooks import INCIDENT_HOOKS

ROOT = Path(__file__).resolve().parents[2]


def _deployment(name: str) -> dict[str, object]:
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    (found,) = [d for d in config["deployments"] if d["name"] == name]
    return dict(found)


def test_the_health_check_is_deployed_every_ten_minutes_on_the_pool():
    deployment = _deployment("health-check")
    path, _, name = str(deployment["entrypoint"]).partition(":")
    health_flow = getattr(importlib.import_module(path.removesuffix(".py").replace("/", ".")), name)

    assert health_flow.name == "health-check"
    assert deployment["schedules"] == [{"interval": 600, "timezone": "UTC"}]  # active: no `active: false`
    assert deployment["work_pool"]["name"] == "sluice-process"
    assert deployment["concurrency_limit"] == 1
    assert health_flow.on_failure_hooks == INCIDENT_HOOKS["on_failure"]
