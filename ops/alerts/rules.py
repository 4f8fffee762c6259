"""Alert rules are data: YAML files loaded into pydantic models.

A rule says which series to watch (a selector), what counts as an anomalous
point (a dynamic band from the series' baseline, or a static threshold, in a
direction, by at least a minimum deviation), when the alert fires (the share
of anomalous points over a trigger window) and when it resolves (the share
over a recovery window falling to at most a lower fraction: hysteresis), how
severe it is and which runbook answers it. Example::

    rules:
      - id: quarantine-rate-spike
        summary: More rows than usual are quarantined
        selector: sluice_quarantine_rate
        direction: above
        threshold: {dynamic: {z: 4}}
        min_deviation: 0.01
        trigger: {window: 2h, fraction: 0.5}
        recovery: {window: 2h, fraction: 0.0}
        severity: SEV3
        runbook: quarantine-rate-spike
"""

from __future__ import annotations

import difflib
import enum
import re
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ops.errors import RuleFileError
from ops.metrics.errors import DurationError, SelectorError
from ops.metrics.models import Selector
from ops.metrics.timerange import parse_duration

RULE_ID = re.compile(r"[a-z0-9][a-z0-9-]*")
DEFAULT_RULES = "default_rules.yaml"


class Direction(enum.StrEnum):
    ABOVE = "above"
    BELOW = "below"
    BOTH = "both"


class Severity(enum.StrEnum):
    SEV1 = "SEV1"
    SEV2 = "SEV2"
    SEV3 = "SEV3"
    SEV4 = "SEV4"


def _duration(value: object) -> object:
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except DurationError as exc:
            raise ValueError(f"{exc.args[0]}: use 30s, 15m, 2h, 1d") from None
    return value


Duration = Annotated[timedelta, BeforeValidator(_duration)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Dynamic(_Model):
    """A band of ``z`` robust sigmas around the series' baseline."""

    z: float = Field(4.0, gt=0)
    source: Literal["auto", "baseline", "detector"] = "auto"
    history: Duration = timedelta(days=7)


class Threshold(_Model):
    """Exactly one of a dynamic band or a static value."""

    dynamic: Dynamic | None = None
    static: float | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Threshold:
        if (self.dynamic is None) == (self.static is None):
            raise ValueError("give exactly one of dynamic or static")
        return self


class Window(_Model):
    """The share of anomalous points over a trailing window."""

    window: Duration
    fraction: float = Field(ge=0, le=1)
    min_points: int = Field(1, ge=1)


class Rule(_Model):
    id: str
    summary: str
    selector: str
    direction: Direction = Direction.BOTH
    threshold: Threshold
    min_deviation: float = Field(0.0, ge=0)
    trigger: Window
    recovery: Window
    severity: Severity
    runbook: str
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("id")
    @classmethod
    def _id_is_a_slug(cls, value: str) -> str:
        if not RULE_ID.fullmatch(value):
            raise ValueError("ids are lower-case letters, digits and '-'")
        return value

    @field_validator("selector")
    @classmethod
    def _selector_parses(cls, value: str) -> str:
        try:
            Selector.parse(value)
        except SelectorError as exc:
            raise ValueError(str(exc.args[0])) from None
        return value

    @model_validator(mode="after")
    def _hysteresis(self) -> Rule:
        if self.recovery.fraction >= self.trigger.fraction:
            raise ValueError(
                f"recovery.fraction ({self.recovery.fraction}) must be below trigger.fraction "
                f"({self.trigger.fraction}), or the alert would flap"
            )
        return self

    @property
    def parsed_selector(self) -> Selector:
        return Selector.parse(self.selector)

    @property
    def lookback(self) -> timedelta:
        """How far back evaluation reads: both windows twice over, so the state is decided by the data."""
        return 2 * max(self.trigger.window, self.recovery.window)


class RuleSet(_Model):
    rules: list[Rule]

    @model_validator(mode="after")
    def _unique_ids(self) -> RuleSet:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} is used twice")
            seen.add(rule.id)
        return self

    def get(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        close = difflib.get_close_matches(rule_id, [r.id for r in self.rules], n=1)
        raise RuleFileError(
            f"no alert rule {rule_id!r}",
            hint=f"did you mean {close[0]!r}?" if close else "`ops alerts rules` lists them",
        )


_FIELDS = {
    "rule": set(Rule.model_fields),
    "threshold": set(Threshold.model_fields),
    "dynamic": set(Dynamic.model_fields),
    "window": set(Window.model_fields),
    "rules": {"rules"},
}


def _where(loc: tuple[object, ...], raw: object) -> str:
    parts: list[str] = []
    node = raw
    for step in loc:
        if isinstance(step, int) and isinstance(node, list) and step < len(node):
            node = node[step]
            rule_id = node.get("id") if isinstance(node, dict) else None
            parts.append(f"[{rule_id or step}]")
        else:
            node = node.get(step) if isinstance(node, dict) else None
            parts.append(f".{step}")
    return "".join(parts).lstrip(".") or "(top level)"


def _describe(error: ValidationError, raw: object) -> str:
    lines = []
    for err in error.errors():
        loc, msg = err["loc"], err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            parent = str(loc[-2]) if len(loc) > 1 and not isinstance(loc[-2], int) else "rule"
            kind = "window" if parent in ("trigger", "recovery") else parent if parent in _FIELDS else "rule"
            close = difflib.get_close_matches(str(loc[-1]), _FIELDS[kind], n=1)
            msg = f"unknown field {loc[-1]!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
            loc = loc[:-1]
        lines.append(f"  - {_where(loc, raw)}: {msg}")
    return "\n".join(lines)


def parse_rules(text: str, *, origin: str = "<string>") -> RuleSet:
    """Parse rule YAML; every problem is reported with its location.

    Raises:
        RuleFileError: malformed YAML or invalid rules.
    """
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RuleFileError(f"rule file {origin} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict) or "rules" not in raw:
        raise RuleFileError(
            f"rule file {origin} must be a mapping with a 'rules' list",
            hint="start the file with `rules:` and one item per rule",
        )
    try:
        return RuleSet.model_validate(raw)
    except ValidationError as exc:
        raise RuleFileError(
            f"rule file {origin} is invalid:\n{_describe(exc, raw)}",
            hint="fix the fields above; ops/alerts/rules.py documents every field",
        ) from None


def load_rules(path: Path | None = None) -> RuleSet:
    """Rules from ``path``, or Sluice's default rule set for its own pipeline metrics."""
    if path is None:
        text = resources.files("ops.alerts").joinpath(DEFAULT_RULES).read_text(encoding="utf-8")
        return parse_rules(text, origin=f"(default) {DEFAULT_RULES}")
    if not path.is_file():
        raise RuleFileError(f"rule file {path} does not exist", hint="omit --rules to use the default rule set")
    return parse_rules(path.read_text(encoding="utf-8"), origin=str(path))
