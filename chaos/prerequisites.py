"""What a drill needs on this host, checked before anything runs or is recorded.

- Sluice's providers (``chaos.actions``, ``chaos.probes``) run on the drill's
  stack (:mod:`chaos.stack`): an S3 endpoint from moto's server, filled and
  read back with boto3. Both come with the ``chaos`` extra.
- A stream drill (the ``chaos.streamactions`` and ``chaos.streamprobes``
  providers) needs the brokers it disturbs (``SLUICE_RABBITMQ_URL``,
  ``SLUICE_REDIS_URL``, ``SLUICE_KAFKA_BOOTSTRAP_SERVERS``), to publish Avro,
  ``SLUICE_SCHEMA_REGISTRY_URL``, and to freeze Kafka, the broker processes on
  this host (``SLUICE_CHAOS_KAFKA_BROKER_PIDS`` or the action's ``pids``).
- An API drill (the ``chaos.apiactions`` and ``chaos.apiprobes`` providers)
  needs an API the environment describes (``SLUICE_APIS_DIR``) to put its HTTP
  fault proxy in front of: one, or the one its steps name (``api``).
- A drill that fills the lake's disk (target ``lake-disk``, or the action
  ``mount_lake_disk``) mounts a tmpfs: root with CAP_SYS_ADMIN, a kernel with
  tmpfs, and ``mount`` and ``umount`` on PATH (:func:`chaos.disk.why_no_tmpfs`).
- A database drill (target ``database-source``, or the ``chaos.dbactions`` and
  ``chaos.dbprobes`` providers) starts a PostgreSQL 15 server of its own with
  wal2json (:func:`chaos.pgserver.why_no_server`).

A drill that cannot run here is a configuration problem, not a failed drill:
:func:`ensure_prerequisites` raises a ``ConfigError`` naming everything that
is missing and how to get it, before a drill is begun, journalled or can
open an incident.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from chaos.disk import why_no_tmpfs
from chaos.experiment import Experiment, Target
from chaos.pgserver import INSTALL_HINT, why_no_server
from sluice.errors import ConfigError

STREAM_PROVIDERS = frozenset({"chaos.streamactions", "chaos.streamprobes"})
API_PROVIDERS = frozenset({"chaos.apiactions", "chaos.apiprobes"})
STACK_PROVIDERS = frozenset(
    {"chaos.actions", "chaos.probes", "chaos.dbactions", "chaos.dbprobes", *STREAM_PROVIDERS, *API_PROVIDERS}
)
DATABASE_PROVIDERS = frozenset({"chaos.dbactions", "chaos.dbprobes"})
SCHEMA_ACTION = "produce_incompatible_schema"
FREEZE_ACTION = "freeze_broker_mid_batch"
# stream actions with a default broker
DEFAULT_BROKER = {SCHEMA_ACTION: "redis", "dead_letter_poison": "rabbitmq", FREEZE_ACTION: "kafka"}
INSTALL_CHAOS = "pip install -e '.[chaos]'"
DISK_ACTION = "mount_lake_disk"
# (module, attribute, what it is for): what the drill's stack imports when it starts.
STACK_MODULES = (
    ("moto.server", "ThreadedMotoServer", "moto's S3 server, the drill's S3 endpoint"),
    ("boto3", "client", "boto3, the drill's S3 client"),
)


@dataclass(frozen=True)
class Missing:
    """One prerequisite this host lacks: what it is, why it is unusable, and how to get it."""

    what: str
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.what}: {self.problem}"


def _activities(experiment: Experiment) -> Iterator[dict[str, Any]]:
    data, ext = experiment.data, experiment.extension
    groups = [
        (data.get("steady-state-hypothesis") or {}).get("probes"),
        data.get("method"),
        data.get("rollbacks"),
        ext.guards,
        ext.recovery,
    ]
    for group in groups:
        yield from (a for a in group or [] if isinstance(a, dict))


def _providers(experiment: Experiment) -> set[tuple[str, str]]:
    """``(module, func)`` of every Python provider the experiment calls."""
    found = set()
    for activity in _activities(experiment):
        provider = activity.get("provider") or {}
        if provider.get("type") == "python":
            found.add((str(provider.get("module", "")), str(provider.get("func", ""))))
    return found


def uses_stack(experiment: Experiment) -> bool:
    """Whether the drill calls Sluice's providers, which run on the drill's S3, lake and Dask stack."""
    return any(module in STACK_PROVIDERS for module, _ in _providers(experiment))


def mounts_disk(experiment: Experiment) -> bool:
    """Whether the drill puts a small disk (a tmpfs) under its lake."""
    return Target.LAKE_DISK in experiment.extension.targets or any(
        func == DISK_ACTION for _, func in _providers(experiment)
    )


def uses_database(experiment: Experiment) -> bool:
    """Whether the drill runs a PostgreSQL server of its own as its database source."""
    return Target.DATABASE_SOURCE in experiment.extension.targets or any(
        module in DATABASE_PROVIDERS for module, _ in _providers(experiment)
    )


def stream_brokers(experiment: Experiment) -> set[str]:
    """The brokers the drill's stream actions produce to and disturb."""
    found = set()
    for activity in _activities(experiment):
        provider = activity.get("provider") or {}
        if provider.get("module") in STREAM_PROVIDERS:
            broker = (provider.get("arguments") or {}).get("broker", DEFAULT_BROKER.get(str(provider.get("func"))))
            if broker:
                found.add(str(broker))
    return found


def _stream_missing(experiment: Experiment) -> list[Missing]:
    from chaos.streams import ADDRESS_SETTING, why_no_broker
    from sluice.settings import get_settings

    missing = []
    for broker in sorted(stream_brokers(experiment)):
        if problem := why_no_broker(broker):
            missing.append(
                Missing(f"the {broker} broker of the drill's stream", problem, f"set {ADDRESS_SETTING[broker]}")
            )
    missing += _freeze_missing(experiment)
    schema = any(func == SCHEMA_ACTION for _, func in _providers(experiment))
    if schema and not get_settings().registry.schema_registry_url:
        missing.append(
            Missing(
                "the schema registry of the drill's Avro stream",
                "SLUICE_SCHEMA_REGISTRY_URL is unset",
                "set SLUICE_SCHEMA_REGISTRY_URL to the registry the stream's producers use",
            )
        )
    return missing


def _freeze_missing(experiment: Experiment) -> list[Missing]:
    """The broker processes a freeze step names (its ``pids``, else the setting), when they cannot be frozen."""
    from chaos.kafka import PIDS_SETTING, why_no_pids

    fix = f"set {PIDS_SETTING} to the Kafka broker process ids on this host (JSON list)"
    for activity in _activities(experiment):
        provider = activity.get("provider") or {}
        if provider.get("module") != "chaos.streamactions" or provider.get("func") != FREEZE_ACTION:
            continue
        if problem := why_no_pids((provider.get("arguments") or {}).get("pids")):
            return [Missing("the Kafka broker processes the drill freezes", problem, fix)]
    return []


def _api_missing(experiment: Experiment) -> list[Missing]:
    from chaos.apisource import described_api
    from ops.errors import ChaosError

    names = set()
    for activity in _activities(experiment):
        provider = activity.get("provider") or {}
        if provider.get("module") in API_PROVIDERS:
            names.add((provider.get("arguments") or {}).get("api"))
    missing = []
    for name in sorted(names, key=str):
        try:
            described_api(name)
        except ChaosError as exc:
            missing.append(Missing("the API the drill disturbs", str(exc.args[0]), "describe it in SLUICE_APIS_DIR"))
    return missing


def _import_problem(module: str, attribute: str) -> str | None:
    try:
        imported = importlib.import_module(module)
    except ImportError as exc:
        return f"cannot import {module} ({exc})"
    return None if hasattr(imported, attribute) else f"{module} has no {attribute} (too old a version?)"


def unmet(experiment: Experiment) -> list[Missing]:
    """Every prerequisite of ``experiment`` this host lacks (none: the drill can run here)."""
    missing = []
    if uses_stack(experiment):
        for module, attribute, what in STACK_MODULES:
            if problem := _import_problem(module, attribute):
                missing.append(Missing(what, problem, f"install the chaos extra: {INSTALL_CHAOS}"))
    if uses_database(experiment) and (problem := why_no_server()):
        missing.append(Missing("a PostgreSQL 15 server with wal2json for the drill's source", problem, INSTALL_HINT))
    missing += _stream_missing(experiment)
    missing += _api_missing(experiment)
    if mounts_disk(experiment) and (problem := why_no_tmpfs()):
        missing.append(
            Missing(
                "a small disk (tmpfs) under the drill's lake",
                problem,
                "run disk drills as root with CAP_SYS_ADMIN, util-linux's mount and umount on PATH",
            )
        )
    return missing


def prerequisites_error(name: str, missing: list[Missing]) -> ConfigError:
    """The ``ConfigError`` of a drill that cannot run here: every missing prerequisite and every fix."""
    fixes = list(dict.fromkeys(m.fix for m in missing))
    return ConfigError(
        f"drill {name} cannot run on this host: " + "; ".join(map(str, missing)),
        hint="; ".join(fixes) + "; nothing was run or recorded",
    )


def ensure_prerequisites(experiment: Experiment) -> None:
    """Raise ``ConfigError`` unless this host has everything ``experiment`` needs."""
    missing = unmet(experiment)
    if missing:
        raise prerequisites_error(experiment.name, missing)
