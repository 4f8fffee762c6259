"""Checks of Grafana dashboard JSON against the metrics Sluice exports.

Expressions are parsed by Prometheus's own parser (``promtool check rules`` on a
rules file of the dashboard's queries); :func:`selections` then reads which
metric names and labels a parsed expression uses, with a small tokenizer that
only has to handle valid PromQL.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

GRAFANA_INTERVALS = re.compile(r"\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}")
TARGET_LABELS = frozenset({"job", "instance"})
"""Labels Prometheus adds to every scraped series."""
KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"}
    | {"inf", "nan", "atan2"}
)
GROUPING = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
_TOKEN = re.compile(
    r"""(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)|(?P<num>\d[\w.]*)|(?P<id>[a-zA-Z_:][\w:]*)"""
    r"""|(?P<punct>[{}()\[\]])|(?P<space>\s+)|(?P<other>.)""",
    re.S,
)
_LABEL_VALUES = re.compile(r"^\s*label_values\((?:(?P<expr>.*),)?\s*(?P<label>[a-zA-Z_]\w*)\s*\)\s*$", re.S)


@dataclass(frozen=True)
class Query:
    """One PromQL expression of a dashboard, with where it is (``panel "Freshness" target A``)."""

    where: str
    expr: str


@dataclass
class Selection:
    """A metric a query selects and the label names it matches on or groups by."""

    metric: str | None
    labels: set[str] = field(default_factory=set)


def load(path: Path) -> dict[str, object]:
    dashboard: dict[str, object] = json.loads(path.read_text())
    return dashboard


def for_prometheus(expr: str) -> str:
    """``expr`` with Grafana's interval variables replaced by a duration Prometheus parses."""
    return GRAFANA_INTERVALS.sub("5m", expr)


def structure_problems(dashboard: dict[str, object]) -> list[str]:
    """What a dashboard lacks: uid, title, panels, and per panel a datasource and targets with expressions."""
    problems = [f"no {key}" for key in ("uid", "title", "panels") if not dashboard.get(key)]
    names = {v.get("name") for v in _variables(dashboard)}
    if "datasource" not in names:
        problems.append("no ${datasource} template variable")
    for panel in _list(dashboard.get("panels")):
        title = panel.get("title", "?")
        source = panel.get("datasource")
        if not isinstance(source, dict) or source.get("uid") != "${datasource}":
            problems.append(f"panel {title!r}: datasource is not the ${{datasource}} variable")
        targets = _list(panel.get("targets"))
        if not targets:
            problems.append(f"panel {title!r}: no targets")
        problems += [f"panel {title!r}: target {t.get('refId')} has no expr" for t in targets if not t.get("expr")]
    return problems


def queries(dashboard: dict[str, object]) -> list[Query]:
    """Every PromQL expression: panel targets, and the selectors inside ``label_values`` variable queries."""
    found = [
        Query(f"panel {p.get('title')!r} target {t.get('refId')}", str(t["expr"]))
        for p in _list(dashboard.get("panels"))
        for t in _list(p.get("targets"))
        if t.get("expr")
    ]
    for variable in _variables(dashboard):
        query = variable.get("query")
        text = query.get("query") if isinstance(query, dict) else query
        match = _LABEL_VALUES.match(str(text)) if variable.get("type") == "query" else None
        if match and match["expr"]:
            found.append(Query(f"variable {variable.get('name')!r}", f"group by ({match['label']}) ({match['expr']})"))
    return found


def promtool_problems(found: list[Query], folder: Path) -> str:
    """Prometheus's parser on every query (``promtool check rules``): its complaints, or '' when all parse."""
    promtool = shutil.which("promtool")
    if promtool is None:
        raise RuntimeError("promtool is missing: install the Debian package prometheus (apt-get install prometheus)")
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": for_prometheus(q.expr)} for i, q in enumerate(found)
                ],
            }
        ]
    }
    path = folder / "dashboard-rules.yml"
    path.write_text(json.dumps(rules))  # JSON is YAML
    done = subprocess.run(
        [promtool, "check", "rules", str(path)], check=False, capture_output=True, text=True, timeout=60
    )
    if done.returncode == 0:
        return ""
    where = "\n".join(f"  dashboard:query_{i} = {q.where}: {q.expr}" for i, q in enumerate(found))
    return f"{done.stdout}{done.stderr}\nrules:\n{where}"


def selections(expr: str) -> tuple[list[Selection], set[str]]:
    """The metrics a (valid) expression selects with their matcher labels, and the labels it groups or joins by."""
    tokens = [(m.lastgroup, m.group()) for m in _TOKEN.finditer(for_prometheus(expr)) if m.lastgroup != "space"]
    found: list[Selection] = []
    grouping: set[str] = set()
    current: Selection | None = None
    state = "expr"  # or "matchers", "range", "grouping"
    pending_grouping = False
    for i, (kind, text) in enumerate(tokens):
        after = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        if state == "matchers":
            if text == "}":
                state = "expr"
            elif kind == "id" and current is not None:
                current.labels.add(text)
        elif state == "range":
            state = "expr" if text == "]" else state
        elif state == "grouping":
            if text == ")":
                state = "expr"
            elif kind == "id":
                grouping.add(text)
        elif text == "[":
            state = "range"
        elif text == "{":
            if current is None:
                current = Selection(None)
                found.append(current)
            state = "matchers"
        elif text == "(" and pending_grouping:
            state, pending_grouping = "grouping", False
        elif kind == "id" and text in GROUPING:
            pending_grouping = True
        elif kind == "id" and text not in KEYWORDS and after != "(" and after not in GROUPING:
            current = Selection(text)
            found.append(current)
            continue
        if text != "{" and state == "expr":
            current = None
    return found, grouping


def label_problems(query: Query, exported: dict[str, set[str]]) -> list[str]:
    """Metrics a query selects that Sluice does not export, and labels those metrics do not carry."""
    found, grouping = selections(query.expr)
    problems = []
    for selection in found:
        if selection.metric is None:
            problems.append(f"{query.where}: a selector without a metric name")
            continue
        if selection.metric not in exported:
            problems.append(f"{query.where}: {selection.metric} is not a metric Sluice exports")
            continue
        carried = exported[selection.metric] | TARGET_LABELS
        problems += [
            f"{query.where}: {selection.metric} has no label {label!r} (it has {sorted(exported[selection.metric])})"
            for label in sorted((selection.labels | grouping) - carried)
        ]
    if not found:
        problems.append(f"{query.where}: selects no metric")
    return problems


def _list(value: object) -> list[dict[str, object]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _variables(dashboard: dict[str, object]) -> list[dict[str, object]]:
    templating = dashboard.get("templating")
    return _list(templating.get("list")) if isinstance(templating, dict) else []
