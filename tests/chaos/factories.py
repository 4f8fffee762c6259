"""Small experiments for the runner's own tests, written as real Chaos Toolkit YAML files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

PROVIDERS = "tests.chaos.providers"


def activity(kind: str, label: str, func: str, *, module: str = PROVIDERS, **arguments: Any) -> dict[str, Any]:
    """A probe (tolerance ``[held]``) or action calling ``module.func(**arguments)``."""
    found: dict[str, Any] = {"type": kind, "name": label,
                             "provider": {"type": "python", "module": module, "func": func}}
    if arguments:
        found["provider"]["arguments"] = arguments
    if kind == "probe":
        found["tolerance"] = ["held"]
    return found


def action(label: str, func: str = "record", **arguments: Any) -> dict[str, Any]:
    """An action; ``record`` (the default) just logs its name in ``providers.CALLS``."""
    if func in ("record", "fail", "raise_flag") and "name" not in arguments:
        arguments["name"] = label
    return activity("action", label, func, **arguments)


def write_experiment(folder: Path, name: str = "drill", *, method: list[dict[str, Any]] | None = None,
                     rollbacks: list[dict[str, Any]] | None = None, probes: list[dict[str, Any]] | None = None,
                     guards: list[dict[str, Any]] | None = None, recovery: list[dict[str, Any]] | None = None,
                     environments: tuple[str, ...] = ("dev", "staging"), **overrides: Any) -> Path:
    """An experiment file: by default a steady state that holds, one recorded step and one recorded rollback."""
    data: dict[str, Any] = {
        "title": f"{name} drill", "description": "A drill of the runner's own tests.",
        "controls": [{"name": "sluice-drill", "provider": {"type": "python", "module": "chaos.control"}}],
        "extensions": [{"name": "sluice", "targets": ["ingest-flow"], "environments": list(environments),
                        "guards": guards or [], "recovery": recovery or []}],
        "steady-state-hypothesis": {"title": "the flag is down", "probes": probes if probes is not None else [
            activity("probe", "conservation-flag-down", "flag_down", flag="broken")]},
        "method": method if method is not None else [action("step-one")],
        "rollbacks": rollbacks if rollbacks is not None else [action("undo")],
    } | overrides
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
