"""Chaos experiments: Chaos Toolkit files plus Sluice's own extension, loaded and validated.

An experiment is a Chaos Toolkit experiment (``chaos/experiments/*.yaml``):
a steady-state hypothesis, a method and rollbacks, with Sluice's probes and
actions as Python providers (``chaos.probes``, ``chaos.actions``) and the
``chaos.control`` control that runs the drill's lifecycle. Sluice reads one
extension entry, named ``sluice``::

    extensions:
      - name: sluice
        targets: [s3-source, ingest-flow, lake]     # what the drill may touch
        environments: [dev, staging]                # where it may run at all
        severity: {conservation: SEV1, alerting: SEV2}
        guards: [<probe>, ...]      # abort conditions, checked before every method step
        recovery: [<probe>, ...]    # checked after the rollbacks: the next normal run is clean

Every steady-state probe is named after the hypothesis it checks:
``conservation-…``, ``outcome-…``, ``alerting-…`` (and recovery probes
``recovery-…``), which gives each verdict its kind and severity.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ops.errors import ChaosError
from ops.incidents.models import Severity

EXPERIMENTS_DIR = Path(__file__).with_name("experiments")
CONTROL_MODULE = "chaos.control"
EXTENSION = "sluice"


class Kind(enum.StrEnum):
    """What a verdict is about."""

    CONSERVATION = "conservation"  # every source row exactly once in the lake or the quarantine
    OUTCOME = "outcome"  # Completed after retries, or Failed with an incident open
    ALERTING = "alerting"  # the incident has the right runbook, in time
    RECOVERY = "recovery"  # after the rollbacks, the next normal run is clean
    METHOD = "method"  # every action of the method did its job
    ROLLBACK = "rollback"  # every rollback ran and succeeded


HYPOTHESES = (Kind.CONSERVATION, Kind.OUTCOME, Kind.ALERTING, Kind.RECOVERY)


class Target(enum.StrEnum):
    """The parts of Sluice a drill may disturb (its blast radius)."""

    S3_SOURCE = "s3-source"
    INGEST_FLOW = "ingest-flow"
    LAKE = "lake"
    QUARANTINE = "quarantine"
    DASK_WORKERS = "dask-workers"
    PREFECT_API = "prefect-api"
    LAKE_DISK = "lake-disk"
    DATABASE_SOURCE = "database-source"
    REPLICATION_SLOT = "replication-slot"
    STREAM_BROKER = "stream-broker"
    API_SOURCE = "api-source"  # a REST API the environment describes, behind the drill's HTTP fault proxy
    HOST = "host"  # the CPU and memory of the machine the drill runs on


DEFAULT_SEVERITY = {
    Kind.CONSERVATION: Severity.SEV1,
    Kind.OUTCOME: Severity.SEV2,
    Kind.ALERTING: Severity.SEV2,
    Kind.RECOVERY: Severity.SEV2,
    Kind.METHOD: Severity.SEV2,
    Kind.ROLLBACK: Severity.SEV2,
}


class SluiceExtension(BaseModel):
    """The ``sluice`` extension entry of an experiment."""

    model_config = ConfigDict(extra="forbid")

    name: str = EXTENSION
    targets: list[Target] = Field(min_length=1)
    environments: list[str] = Field(min_length=1)
    severity: dict[Kind, Severity] = Field(default_factory=dict)
    guards: list[dict[str, Any]] = Field(default_factory=list)
    recovery: list[dict[str, Any]] = Field(default_factory=list)

    @field_validator("environments")
    @classmethod
    def _known_environments(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - {"dev", "staging", "prod"})
        if unknown:
            raise ValueError(f"unknown environment(s) {', '.join(unknown)}; use dev, staging or prod")
        return value

    def severity_of(self, kind: Kind) -> Severity:
        return self.severity.get(kind, DEFAULT_SEVERITY[kind])


@dataclass(frozen=True)
class Experiment:
    """A loaded, validated experiment: the toolkit's dict, its Sluice extension and where it came from."""

    name: str
    path: Path
    data: dict[str, Any]
    extension: SluiceExtension

    @property
    def title(self) -> str:
        return str(self.data.get("title", self.name))

    def hypothesis_probes(self) -> list[dict[str, Any]]:
        return list((self.data.get("steady-state-hypothesis") or {}).get("probes") or [])


def kind_of(probe_name: str) -> Kind | None:
    """The hypothesis kind a probe checks, from its name (``conservation-…``), or None."""
    head = probe_name.split("-", 1)[0]
    return Kind(head) if head in {k.value for k in HYPOTHESES} else None


def suite() -> list[Path]:
    """The experiments of the suite, in name order."""
    return sorted(EXPERIMENTS_DIR.glob("*.yaml"))


def resolve(experiment: str | Path) -> Path:
    """A path for ``experiment``: a file, or the name of one in the suite (``duplicate-delivery``)."""
    path = Path(experiment)
    if path.is_file():
        return path
    named = EXPERIMENTS_DIR / f"{str(experiment).removesuffix('.yaml')}.yaml"
    if named.is_file():
        return named
    names = ", ".join(p.stem for p in suite())
    raise ChaosError(f"no experiment {str(experiment)!r}", hint=f"give a file, or one of: {names}")


def _toolkit_checks(path: Path) -> dict[str, Any]:
    from chaoslib.exceptions import ChaosException
    from chaoslib.experiment import ensure_experiment_is_valid
    from chaoslib.loader import load_experiment

    try:
        data = load_experiment(str(path))
        ensure_experiment_is_valid(data)
    except ChaosException as exc:
        raise ChaosError(f"{path}: {exc}", hint=f"fix the file, then `ops chaos validate {path}`") from None
    except Exception as exc:  # noqa: BLE001 - YAML or JSON syntax errors surface as parser exceptions
        raise ChaosError(
            f"{path}: cannot be read as an experiment ({type(exc).__name__}: {exc})", hint="check the YAML syntax"
        ) from None
    return data


def _extension(path: Path, data: dict[str, Any]) -> SluiceExtension:
    found = [e for e in data.get("extensions") or [] if e.get("name") == EXTENSION]
    if not found:
        raise ChaosError(
            f"{path}: no `{EXTENSION}` extension",
            hint="declare its targets and environments under extensions: - name: sluice",
        )
    try:
        return SluiceExtension.model_validate(found[0])
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ChaosError(f"{path}: invalid `{EXTENSION}` extension: {problems}") from None


def ensure_sluice_rules(path: Path, data: dict[str, Any], ext: SluiceExtension) -> None:
    """Raise ``ChaosError`` unless the experiment follows Sluice's rules on top of the toolkit's."""
    from chaoslib.activity import ensure_activity_is_valid
    from chaoslib.exceptions import ChaosException

    controls = [c.get("provider", {}).get("module") for c in data.get("controls") or []]
    if CONTROL_MODULE not in controls:
        raise ChaosError(
            f"{path}: the `{CONTROL_MODULE}` control is not declared",
            hint="add controls: - name: sluice-drill, provider: {type: python, module: chaos.control}",
        )
    probes = (data.get("steady-state-hypothesis") or {}).get("probes") or []
    for probe in probes:
        if kind_of(probe.get("name", "")) is None:
            raise ChaosError(
                f"{path}: hypothesis probe {probe.get('name')!r} does not name its kind",
                hint="start its name with conservation-, outcome- or alerting-",
            )
    for role, activities in (("guard", ext.guards), ("recovery", ext.recovery)):
        for activity in activities:
            try:
                ensure_activity_is_valid(activity)
            except ChaosException as exc:
                raise ChaosError(f"{path}: {role} {activity.get('name')!r}: {exc}") from None
            if activity.get("type") != "probe" or "tolerance" not in activity:
                raise ChaosError(f"{path}: {role} {activity.get('name')!r} must be a probe with a tolerance")
            if role == "recovery" and not activity["name"].startswith("recovery-"):
                raise ChaosError(f"{path}: recovery probe {activity['name']!r} must be named recovery-…")


def load(experiment: str | Path) -> Experiment:
    """Load ``experiment`` and check it with the toolkit and with Sluice's rules.

    Raises:
        ChaosError: the file is missing, does not parse, or breaks a rule; the
            message names the file and what to fix.
    """
    path = resolve(experiment)
    data = _toolkit_checks(path)
    ext = _extension(path, data)
    ensure_sluice_rules(path, data, ext)
    return Experiment(name=path.stem, path=path, data=data, extension=ext)
