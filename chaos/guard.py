"""The blast-radius guard: where a drill may run at all.

A drill runs in one environment, named explicitly (``--env staging``). It is
refused, before anything is touched, when:

1. the name is not an environment Sluice knows;
2. this process is not in that environment (``SLUICE_ENV`` differs): saying
   ``--env staging`` on a prod worker must never work;
3. the experiment does not declare that environment in its ``sluice`` extension;
4. the environment is not allow-listed for chaos (``SLUICE_CHAOS_ENVIRONMENTS``,
   dev and staging by default, so prod is refused), unless the drill is
   started with the explicit override.

The override lifts only rule 4: an experiment never runs where its author did
not declare it could.
"""

from __future__ import annotations

from dataclasses import dataclass

from chaos.experiment import SluiceExtension
from ops.errors import ChaosError

KNOWN = ("dev", "staging", "prod")
OVERRIDE_FLAG = "--override-blast-radius"


@dataclass(frozen=True)
class Clearance:
    """Why a drill may run: the environment and whether the allow-list was overridden."""

    environment: str
    overridden: bool


def ensure_blast_radius(
    ext: SluiceExtension,
    env: str,
    *,
    process_env: str,
    allowed: list[str],
    override: bool = False,
    experiment: str = "the experiment",
) -> Clearance:
    """Return the clearance to run ``experiment`` in ``env``, or raise ``ChaosError`` saying why not."""
    if env not in KNOWN:
        raise ChaosError(f"unknown environment {env!r}", hint=f"use one of: {', '.join(KNOWN)}")
    if env != process_env:
        raise ChaosError(
            f"refusing to drill {env}: this process runs with SLUICE_ENV={process_env}",
            hint=f"run the drill where SLUICE_ENV={env}, or pass --env {process_env}",
        )
    if env not in ext.environments:
        raise ChaosError(
            f"{experiment} may not run in {env}: it declares only {', '.join(ext.environments)}",
            hint="the experiment's `sluice` extension lists where it may run",
        )
    if env in allowed:
        return Clearance(env, overridden=False)
    if not override:
        raise ChaosError(
            f"refusing to drill {env}: it is not allow-listed for chaos "
            f"(SLUICE_CHAOS_ENVIRONMENTS={','.join(allowed) or 'none'}); targets: "
            f"{', '.join(t.value for t in ext.targets)}",
            hint=f"drill staging instead; only if you mean it, pass {OVERRIDE_FLAG}",
        )
    return Clearance(env, overridden=True)
