"""Access policies: one YAML file per dataset, in git, deciding which rows and columns a principal reads.

A policy holds ordered rules. The first rule whose ``when`` matches the
principal (any of its roles; its department, region, clearance) applies;
when none does, the read is denied. A rule keeps rows (``rows``, a
structured condition compiled to bound parameters, see
:mod:`sluice.access.expr`), limits columns (``columns``) and masks them
(``masks``: ``hide``, ``null``, ``hash``, ``partial``)::

    dataset: customers
    rules:
      - name: support-eu
        when: {roles: [support], region: [EU], min_clearance: internal}
        rows: {column: country, in: [DE, FR, NL]}
        masks: {email: hash, full_name: partial, lifetime_value: "null"}
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sluice.access.expr import And, Compare, Const, Expr, InList, IsNull, Not, Or, Scalar
from sluice.access.principal import CLEARANCE_LEVELS, Attribute, Clearance, Principal
from sluice.errors import AccessDenied, PolicyError
from sluice.paths import ensure_dataset_name

MAX_POLICY_BYTES = 1024 * 1024
_COLUMN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
_OPERATORS = ("equals", "not_equals", "less_than", "at_most", "greater_than", "at_least", "in_", "not_in", "is_null")
_SQL_OPS = {"equals": "=", "not_equals": "!=", "less_than": "<", "at_most": "<=", "greater_than": ">", "at_least": ">="}
POLICY_HINT = "see docs/governance/access.md for the policy format"


class Condition(BaseModel):
    """One node of a row filter: ``all``, ``any`` or ``not`` of conditions, or one test on one column."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    all: list[Condition] | None = None
    any: list[Condition] | None = None
    not_: Condition | None = Field(default=None, alias="not")
    column: str | None = Field(default=None, pattern=_COLUMN)
    equals: Scalar | None = None
    not_equals: Scalar | None = None
    less_than: Scalar | None = None
    at_most: Scalar | None = None
    greater_than: Scalar | None = None
    at_least: Scalar | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in", min_length=1)
    not_in: list[Scalar] | None = Field(default=None, min_length=1)
    is_null: bool | None = None
    equals_attribute: Attribute | None = None

    @model_validator(mode="after")
    def _one_shape(self) -> Condition:
        groups = [k for k in ("all", "any", "not_", "column") if getattr(self, k) is not None]
        if len(groups) != 1:
            raise ValueError("a condition is exactly one of: all, any, not, or a column with one test")
        tests = [k for k in (*_OPERATORS, "equals_attribute") if getattr(self, k) is not None]
        if self.column is not None and len(tests) != 1:
            raise ValueError(f"column {self.column!r} needs exactly one test of {[*_OPERATORS, 'equals_attribute']}")
        if self.column is None and tests:
            raise ValueError(f"{tests[0]} needs a column")
        return self

    def compile(self, principal: Principal) -> Expr:
        """The condition for ``principal``: an attribute the principal lacks keeps no rows."""
        if self.all is not None:
            return And(tuple(c.compile(principal) for c in self.all))
        if self.any is not None:
            return Or(tuple(c.compile(principal) for c in self.any))
        if self.not_ is not None:
            return Not(self.not_.compile(principal))
        column = self.column or ""
        if self.equals_attribute is not None:
            value = principal.attribute(self.equals_attribute)
            return Const(False) if value is None else Compare(column, "=", value)
        if self.is_null is not None:
            return IsNull(column, negated=not self.is_null)
        if self.in_ is not None or self.not_in is not None:
            return InList(column, tuple(self.in_ or self.not_in or ()), negated=self.in_ is None)
        op, value = next((k, getattr(self, k)) for k in _SQL_OPS if getattr(self, k) is not None)
        return Compare(column, _SQL_OPS[op], value)

    def columns(self) -> set[str]:
        nested = [*(self.all or []), *(self.any or []), *([self.not_] if self.not_ else [])]
        return set().union({self.column} if self.column else set(), *(c.columns() for c in nested))


class Partial(BaseModel):
    """Keep the first ``keep_start`` and last ``keep_end`` characters; stars replace the rest."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    keep_start: int = Field(default=1, ge=0, le=64)
    keep_end: int = Field(default=0, ge=0, le=64)


class PartialMask(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    partial: Partial


Mask = Literal["hide", "null", "hash", "partial"] | PartialMask


class When(BaseModel):
    """Who a rule is for: every listed condition must hold (an empty ``when`` matches every principal)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    roles: list[str] = Field(default_factory=list, description="Any of these roles.")
    department: list[str] = Field(default_factory=list, description="One of these departments.")
    region: list[str] = Field(default_factory=list, description="One of these regions.")
    min_clearance: Clearance | None = None
    subjects: list[str] = Field(default_factory=list, description="One of these subjects (service accounts).")

    def matches(self, principal: Principal) -> bool:
        checks = (
            not self.roles or bool(principal.roles & set(self.roles)),
            not self.department or principal.department in self.department,
            not self.region or principal.region in self.region,
            self.min_clearance is None or principal.clearance_rank() >= CLEARANCE_LEVELS.index(self.min_clearance),
            not self.subjects or principal.subject in self.subjects,
        )
        return all(checks)


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=120)
    when: When = Field(default_factory=When)
    rows: Condition | None = Field(default=None, description="The rows kept; every row when absent.")
    columns: list[str] | None = Field(default=None, description="The columns shown; every column when absent.")
    masks: dict[str, Mask] = Field(default_factory=dict)

    def mask_of(self, column: str) -> Mask | None:
        return self.masks.get(column)

    def referenced_columns(self) -> set[str]:
        return {*(self.columns or []), *self.masks, *(self.rows.columns() if self.rows else set())}


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str
    description: str = ""
    owner: str | None = None
    rules: list[Rule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_rule_names(self) -> Policy:
        names = [r.name for r in self.rules]
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise ValueError(f"rule names must be unique; repeated: {doubled}")
        return self

    def rule_for(self, principal: Principal) -> Rule:
        """The first rule matching ``principal``.

        Raises:
            AccessDenied: no rule matches (access is denied by default).
        """
        rule = next((r for r in self.rules if r.when.matches(principal)), None)
        if rule is None:
            raise AccessDenied(
                f"no rule of the {self.dataset} policy grants {principal.subject!a} a read",
                hint="ask the dataset's owner for a role the policy lists, or for a rule that fits you",
            )
        return rule


@dataclass(frozen=True)
class LoadedPolicy:
    policy: Policy
    path: Path
    sha256: str


def policy_path(root: Path, dataset: str) -> Path:
    return root / f"{ensure_dataset_name(dataset)}.yaml"


def load_policy(root: Path, dataset: str) -> LoadedPolicy:
    """The policy of ``dataset`` under ``root``, with the hash of its file.

    Raises:
        AccessDenied: the dataset has no policy file (no policy, no access).
        PolicyError: the file is unreadable, not YAML, or not a valid policy.
    """
    path = policy_path(root, dataset)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise AccessDenied(
            f"dataset {dataset!r} has no access policy at {path}: access is denied by default",
            hint="add a policy file for it (see docs/governance/access.md) or check SLUICE_ACCESS_POLICIES_DIR",
        ) from None
    except OSError as exc:
        raise PolicyError(f"cannot read policy {path}: {exc.strerror}", hint=POLICY_HINT) from None
    return LoadedPolicy(parse_policy(data, path, dataset), path, hashlib.sha256(data).hexdigest())


def parse_policy(data: bytes, path: Path, dataset: str) -> Policy:
    """The policy in ``data``; ``dataset`` must be the one it names.

    Raises:
        PolicyError: too large, not YAML, not a mapping, invalid or for another dataset.
    """
    if len(data) > MAX_POLICY_BYTES:
        raise PolicyError(f"policy {path} is larger than {MAX_POLICY_BYTES} bytes", hint=POLICY_HINT)
    try:
        raw = yaml.safe_load(data.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise PolicyError(f"policy {path} is not valid YAML{line}", hint=POLICY_HINT) from None
    if not isinstance(raw, dict):
        raise PolicyError(f"policy {path} is not a mapping with dataset and rules", hint=POLICY_HINT)
    try:
        policy = Policy.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'policy'}: {e['msg']}" for e in exc.errors()[:3])
        raise PolicyError(f"policy {path} is invalid: {problems}", hint=POLICY_HINT) from None
    if policy.dataset != dataset:
        raise PolicyError(
            f"policy {path} is for dataset {policy.dataset!r}, not {dataset!r}",
            hint="name each policy file after its dataset",
        )
    return policy


def describe_rule(rule: Rule) -> str:
    """The rule in words: who it is for, which rows, columns and masks (DPIAs and the catalog quote it)."""
    who = [
        f"{name} {', '.join(values)}"
        for name, values in (
            ("roles", rule.when.roles),
            ("department", rule.when.department),
            ("region", rule.when.region),
            ("subjects", rule.when.subjects),
        )
        if values
    ]
    if rule.when.min_clearance:
        who.append(f"clearance at least {rule.when.min_clearance}")
    masks = [f"{c} {m if isinstance(m, str) else 'partial'}" for c, m in sorted(rule.masks.items())]
    return (
        f"`{rule.name}`: for {'; '.join(who) or 'every authenticated reader'}; "
        f"rows: {'filtered on ' + ', '.join(sorted(rule.rows.columns())) if rule.rows else 'all'}; "
        f"columns: {', '.join(rule.columns) if rule.columns is not None else 'all'}; "
        f"masks: {', '.join(masks) or 'none'}"
    )


def describe_rules(policy: Policy) -> tuple[str, ...]:
    """Every rule in words, first match first, and the default: everyone else is denied."""
    denied = "Any other reader is denied; every read and denial is recorded in the access audit (`ops audit list`)."
    return (*(describe_rule(r) for r in policy.rules), denied)
