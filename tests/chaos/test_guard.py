"""The blast-radius guard: refusals with a reason, and the one override."""

from __future__ import annotations

import pytest

from chaos.experiment import SluiceExtension
from chaos.guard import ensure_blast_radius
from ops.errors import ChaosError

ALLOWED = ["dev", "staging"]


def ext(*environments: str) -> SluiceExtension:
    return SluiceExtension(targets=["lake"], environments=list(environments))


def test_staging_is_cleared_when_declared_allowed_and_matching_the_process():
    clearance = ensure_blast_radius(ext("staging"), "staging", process_env="staging", allowed=ALLOWED)

    assert clearance.environment == "staging" and not clearance.overridden


def test_prod_is_refused_by_default_with_the_override_named():
    with pytest.raises(ChaosError) as refused:
        ensure_blast_radius(ext("staging", "prod"), "prod", process_env="prod", allowed=ALLOWED)

    assert "refusing to drill prod: it is not allow-listed" in str(refused.value)
    assert "--override-blast-radius" in refused.value.hint


def test_the_override_clears_an_environment_outside_the_allow_list():
    clearance = ensure_blast_radius(ext("prod"), "prod", process_env="prod", allowed=ALLOWED, override=True)

    assert clearance.overridden


@pytest.mark.parametrize(
    ("declared", "env", "process", "message"),
    [
        (("staging",), "prod", "prod", "may not run in prod: it declares only staging"),
        (("staging",), "staging", "prod", "this process runs with SLUICE_ENV=prod"),
        (("staging",), "qa", "qa", "unknown environment 'qa'"),
    ],
)
def test_the_override_never_lifts_the_other_refusals(declared, env, process, message):
    with pytest.raises(ChaosError, match=message):
        ensure_blast_radius(ext(*declared), env, process_env=process, allowed=ALLOWED, override=True)
