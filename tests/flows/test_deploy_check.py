"""The deploy-time values of prefect.yaml: defaults where one is sane, a refusal saying what to set otherwise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from flows.deploy_check import deploy_values, resolve
from sluice.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_a_bare_shell_deploys_dev_with_the_home_in_the_project(tmp_path: Path) -> None:
    values = resolve({}, tmp_path)

    assert (values.env, values.home, values.project) == (
        "dev",
        str(tmp_path.resolve() / ".sluice"),
        str(tmp_path.resolve()),
    )


def test_explicit_values_are_kept_and_a_relative_home_is_made_absolute(tmp_path: Path) -> None:
    assert resolve({"SLUICE_ENV": "prod", "SLUICE_HOME": "/srv/sluice"}, tmp_path).home == "/srv/sluice"

    values = resolve({"SLUICE_ENV": "staging", "SLUICE_HOME": "var/sluice"}, tmp_path)

    assert (values.env, values.home) == ("staging", str(tmp_path.resolve() / "var" / "sluice"))


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_staging_and_prod_need_a_home(env: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SLUICE_HOME is not set") as raised:
        resolve({"SLUICE_ENV": env}, tmp_path)

    assert "export SLUICE_HOME=" in raised.value.hint


def test_an_unknown_environment_is_refused_with_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"SLUICE_ENV='production'.*dev, staging, prod") as raised:
        resolve({"SLUICE_ENV": "production", "SLUICE_HOME": "/srv/sluice"}, tmp_path)

    assert "export SLUICE_ENV=" in raised.value.hint


def test_a_deployment_running_as_staging_deploys_from_dev_and_staging_but_not_prod(tmp_path: Path) -> None:
    for env in ("dev", "staging"):
        assert resolve({"SLUICE_ENV": env, "SLUICE_HOME": "/srv/s"}, tmp_path, runs_in="staging").env == env

    with pytest.raises(ConfigError, match="runs as staging; a prod deploy would run it on prod's workers"):
        resolve({"SLUICE_ENV": "prod", "SLUICE_HOME": "/srv/s"}, tmp_path, runs_in="staging")


def test_the_build_step_ends_the_deploy_with_what_to_set(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SLUICE_ENV", "staging")
    monkeypatch.delenv("SLUICE_HOME", raising=False)

    with pytest.raises(SystemExit) as stopped:
        deploy_values()

    assert stopped.value.code == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("error: SLUICE_HOME is not set") and err[1].startswith("hint: export SLUICE_HOME=")


def test_the_command_prints_what_a_deploy_from_this_shell_would_register(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "SLUICE_HOME": str(tmp_path / "home")}

    done = subprocess.run(
        [sys.executable, "-m", "flows.deploy_check"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["env: dev", f"home: {(tmp_path / 'home').resolve()}", f"project: {ROOT}"]


def test_every_deployment_reads_the_build_step_and_no_shell_variable() -> None:
    text = (ROOT / "prefect.yaml").read_text()
    project = yaml.safe_load(text)

    assert "{{ $" not in text
    steps = [project["build"], *(d["build"] for d in project["deployments"] if "build" in d)]
    assert all(list(step[0]) == ["flows.deploy_check.deploy_values"] for step in steps)
    for deployment in project["deployments"]:
        env = deployment["work_pool"]["job_variables"]["env"]
        assert env["SLUICE_HOME"] == "{{ sluice.home }}"
        expected = "staging" if deployment["name"] == "chaos-drill" else "{{ sluice.env }}"
        assert env["SLUICE_ENV"] == expected, deployment["name"]
