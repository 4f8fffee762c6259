"""The chaos experiments as the suite defines them, for the chaos drills page.

Each ``chaos/experiments/*.yaml`` gives a section: its title and description,
the parts of the stack it touches, the environments it may run in, and the
hypotheses it checks. The files are read as YAML only; validating them is
``ops chaos validate``'s job, and needs the ``chaos`` extra, which a docs
build does not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tools.sitegen import SiteError


def experiments_markdown(folder: Path) -> str:
    """One section per experiment in ``folder``, sorted by name.

    Raises:
        SiteError: a file does not parse, or is not an experiment.
    """
    sections = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, yaml.YAMLError) as exc:
            raise SiteError(
                f"experiment {path.name} cannot be read: {exc}", hint="`ops chaos validate` shows what is wrong"
            ) from None
        if not isinstance(data, dict) or not data.get("title"):
            raise SiteError(
                f"experiment {path.name} has no title", hint="an experiment is a mapping with at least a title"
            )
        sections.append(_section(path.stem, data))
    return "\n".join(sections)


def _section(name: str, data: dict[str, Any]) -> str:
    extension = next((e for e in data.get("extensions") or [] if isinstance(e, dict) and e.get("name") == "sluice"), {})
    hypothesis = data.get("steady-state-hypothesis") or {}
    probes = [p.get("name", "") for p in hypothesis.get("probes") or [] if isinstance(p, dict)]
    facts = [
        ("touches", _codes(extension.get("targets"))),
        ("may run in", _codes(extension.get("environments"))),
        ("hypotheses", _codes(probes)),
    ]
    lines = [
        f"### `{name}` {{#experiment-{name}}}",
        "",
        f"**{str(data['title']).strip().rstrip('.')}.**",
        " ".join(str(data.get("description", "")).split()),
        "",
    ]
    lines += [f"- {label}: {value}" for label, value in facts if value]
    return "\n".join(lines) + "\n"


def _codes(values: object) -> str:
    if not isinstance(values, list):
        return ""
    return ", ".join(f"`{v}`" for v in values)
