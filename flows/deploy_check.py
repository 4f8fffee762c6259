"""What the deployments of ``prefect.yaml`` take from the deploying shell, checked before anything is registered.

``prefect deploy`` runs :func:`deploy_values` as the build step of every
deployment (step id ``sluice``); the deployments read its results as
``{{ sluice.env }}``, ``{{ sluice.home }}`` and ``{{ sluice.project }}``:

- ``SLUICE_ENV``: ``dev`` when unset, else one of dev, staging, prod;
- ``SLUICE_HOME``: in dev, ``<project>/.sluice`` when unset (where ``make run``
  and ``ops`` keep it); staging and prod have no default, since where an
  environment's lake lives is a decision. A relative path is made absolute
  against the folder deployed from;
- the project: the folder ``prefect deploy`` runs in, where every flow run starts.

A missing or invalid value fails the deploy with a message saying which
variable to set and how, before a single deployment is registered, so no flow
run ever starts with an unusable environment. A deployment that runs in an
environment of its own (``runs_in``: ``chaos-drill`` runs as staging) is
refused in a prod deploy, so prod's workers never run anything as staging.

``python -m flows.deploy_check`` prints the values a deploy from this shell
would register, or what is missing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import get_args

from sluice.errors import ConfigError
from sluice.settings import Environment

ENVIRONMENTS: tuple[str, ...] = get_args(Environment)
DEFAULT_ENV = "dev"
EXAMPLE_HOME = "/srv/sluice"


@dataclass(frozen=True)
class DeployValues:
    """The values every deployment is registered with."""

    env: str
    home: str
    project: str


def _environment(environ: Mapping[str, str]) -> str:
    env = environ.get("SLUICE_ENV", "").strip()
    if not env:
        return DEFAULT_ENV
    if env not in ENVIRONMENTS:
        raise ConfigError(
            f"SLUICE_ENV={env!r} is not an environment Sluice knows ({', '.join(ENVIRONMENTS)})",
            hint="export SLUICE_ENV=staging (or dev, prod; unset means dev), then deploy again",
        )
    return env


def _home(environ: Mapping[str, str], env: str, project: Path) -> Path:
    home = environ.get("SLUICE_HOME", "").strip()
    if home:
        return (project / Path(home).expanduser()).resolve()
    if env == DEFAULT_ENV:
        return project / ".sluice"
    raise ConfigError(
        f"SLUICE_HOME is not set: a {env} deploy needs the folder of {env}'s lake, quarantine "
        "and run records (only dev defaults to ./.sluice)",
        hint=f"export SLUICE_HOME={EXAMPLE_HOME} (an absolute path on the workers' host), then deploy again",
    )


def resolve(environ: Mapping[str, str], project: Path, *, runs_in: str | None = None) -> DeployValues:
    """The values to register from ``environ`` for a deploy from ``project``.

    Raises:
        ConfigError: ``SLUICE_ENV`` is not an environment, ``SLUICE_HOME`` is
            missing outside dev, or ``runs_in`` is not allowed in this deploy.
    """
    project = project.resolve()
    env = _environment(environ)
    home = _home(environ, env, project)
    if runs_in is not None and runs_in not in ENVIRONMENTS:
        raise ConfigError(
            f"runs_in={runs_in!r} is not an environment Sluice knows ({', '.join(ENVIRONMENTS)})",
            hint="fix the deployment's build step in prefect.yaml",
        )
    if runs_in is not None and runs_in != env and env == "prod":
        raise ConfigError(
            f"this deployment runs as {runs_in}; a prod deploy would run it on prod's workers",
            hint=f"deploy it with SLUICE_ENV={runs_in} (or dev), and the others by name: "
            "prefect --no-prompt deploy --name NAME ...",
        )
    return DeployValues(env=env, home=str(home), project=str(project))


def deploy_values(runs_in: str | None = None) -> dict[str, str]:
    """The ``prefect deploy`` build step: the values, or the deploy stops here with what to set (exit 1)."""
    try:
        values = resolve(os.environ, Path.cwd(), runs_in=runs_in)
    except ConfigError as exc:
        # SystemExit passes through Prefect's step runner: the deploy ends with these lines, not a traceback.
        print(f"error: {exc.args[0]}\nhint: {exc.hint}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    return asdict(values)


def main() -> int:
    values = deploy_values()
    for name, value in values.items():
        print(f"{name}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
