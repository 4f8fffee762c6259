"""The wheel, installed with its pinned dependencies into a fresh venv outside the checkout, runs on its own.

The wheel is built from a copy of the sources with an isolated build. The
venv has no system site-packages and never sees the checkout: every command
runs from a temporary folder without ``PYTHONPATH``. Its packages come only
from a wheel cache (``$XDG_CACHE_HOME/sluice-wheels/<hash of the lock>``,
default ``~/.cache``) that the first run on a machine fills from
``requirements-run.lock`` and later runs reuse; pip runs with ``--no-index``
against it, so a dependency the wheel declares but the lock misses fails the
install. Then: ``ops runbook lint``, an ingest, and a failing run that opens
an incident with its runbook, all from the installed package.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.factories import mixed_orders, write_csv

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sluice", "demo", "ops", "chaos", "flows", "tasks", "runbooks")
BUILD_REQUIREMENTS = ("setuptools>=69", "wheel")
INGEST = """
import json, sys
from flows.ingest_files import ingest_files
report = ingest_files("orders", sys.argv[1])
counts = {k: getattr(report, k) for k in ("rows_read", "rows_written", "rows_quarantined", "rows_duplicate")}
print("REPORT " + json.dumps(counts))
"""


def run(
    args: Sequence[str | Path], *, env: dict[str, str], cwd: Path, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run a command to the end; fail with its output when it exits non-zero."""
    done = subprocess.run(
        [str(a) for a in args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited {done.returncode}\n{done.stdout}\n{done.stderr}")
    return done


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without anything that points Python, Prefect or Sluice at the checkout or its settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "SLUICE_", "PREFECT_", "VIRTUAL_ENV", "PIP_REQUIRE"))
    }
    env.update(
        {
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "SLUICE_NOTIFY_BACKGROUND": "false",
        }
    )
    env.update(extra)
    return env


def wheel_cache(work: Path) -> Path:
    """The machine's cache of the locked runtime wheels and the build requirements, filled once."""
    key = hashlib.sha256((ROOT / "requirements-run.lock").read_bytes() + " ".join(BUILD_REQUIREMENTS).encode())
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sluice-wheels"
    cache = base / key.hexdigest()[:16]
    cache.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", cache]
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one filler per machine; the others wait for it
        if not (cache / ".complete").exists():
            run([*pip, "--no-deps", "-r", ROOT / "requirements-run.lock"], env=clean_env(), cwd=work, timeout=1800)
            run([*pip, *BUILD_REQUIREMENTS], env=clean_env(), cwd=work, timeout=600)
            (cache / ".complete").touch()
    return cache


def build_wheel(work: Path, cache: Path) -> Path:
    """The wheel of a copy of the sources, built in isolation with the cached build requirements."""
    src = work / "src"
    for name in PACKAGES:
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--find-links",
            cache,
            "--wheel-dir",
            work / "dist",
            src,
        ],
        env=clean_env(),
        cwd=work,
    )
    (wheel,) = (work / "dist").glob("sluice-*.whl")
    return wheel


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    work: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def ops(self) -> Path:
        return self.venv / "bin" / "ops"

    def env(self, home: Path, prefect_api: str) -> dict[str, str]:
        return clean_env(
            SLUICE_HOME=str(home),
            PREFECT_HOME=str(home / "prefect"),
            PREFECT_API_URL=prefect_api,
            PATH=f"{self.venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    work = tmp_path_factory.mktemp("wheel")
    cache = wheel_cache(work)
    wheel = build_wheel(work, cache)
    venv = work / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], env=clean_env(), cwd=work)
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            venv / "bin" / "python",
            "install",
            "--quiet",
            "--no-compile",
            "--no-index",
            "--find-links",
            cache,
            "-r",
            ROOT / "requirements-run.lock",
            wheel,
        ],
        env=clean_env(),
        cwd=work,
        timeout=900,
    )
    return Installed(wheel, venv, work)


def test_the_wheel_holds_the_runbooks_and_no_test_code(installed: Installed) -> None:
    names = zipfile.ZipFile(installed.wheel).namelist()
    books = {Path(n).name for n in names if n.startswith("runbooks/") and n.endswith(".md")}
    assert books == {p.name for p in (ROOT / "runbooks").glob("*.md")}
    assert "runbooks/__init__.py" in names
    assert not [n for n in names if n.startswith("tests/") or "receivers" in n]


def test_the_installed_package_imports_from_its_venv_and_brings_no_test_library(installed: Installed, tmp_path) -> None:
    probe = (
        "import importlib, importlib.util, json; from ops.runbooks.catalog import runbooks_dir; "
        f"mods = {list(PACKAGES)!r}; "
        "print(json.dumps({'files': {m: importlib.import_module(m).__file__ for m in mods}, "
        "'runbooks': str(runbooks_dir()), "
        "'absent': [m for m in ('trustme', 'pytest', 'tests') if importlib.util.find_spec(m) is None]}))"
    )
    found = json.loads(run([installed.python, "-c", probe], env=clean_env(), cwd=tmp_path).stdout)

    site = installed.venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    for module, file in found["files"].items():
        assert Path(file).is_relative_to(site), f"{module} imports from {file}, not from the venv"
        assert not Path(file).is_relative_to(ROOT)
    assert Path(found["runbooks"]) == site / "runbooks"
    assert sorted(found["absent"]) == ["pytest", "tests", "trustme"]


def test_ops_runbook_lint_passes_on_the_installed_runbooks(installed: Installed, tmp_path, prefect_api) -> None:
    env = installed.env(tmp_path / "home", prefect_api)
    report = json.loads(run([installed.ops, "runbook", "lint", "--output", "json"], env=env, cwd=tmp_path).stdout)
    listed = json.loads(run([installed.ops, "runbook", "list", "--output", "json"], env=env, cwd=tmp_path).stdout)

    assert report["errors"] == 0
    assert len(listed) == len(list((ROOT / "runbooks").glob("*.md"))) - 1  # README.md is the index
    assert all(Path(b["path"]).is_relative_to(installed.venv) for b in listed)


def test_an_ingest_from_the_installed_package_accounts_for_every_row(
    installed: Installed, tmp_path, prefect_api
) -> None:
    batch = mixed_orders(40)
    write_csv(tmp_path / "drop" / "orders.csv", batch)
    env = installed.env(tmp_path / "home", prefect_api)

    done = run([installed.python, "-c", INGEST, tmp_path / "drop"], env=env, cwd=tmp_path)
    (line,) = [x for x in done.stdout.splitlines() if x.startswith("REPORT ")]
    counts = json.loads(line.removeprefix("REPORT "))
    assert counts == {
        "rows_read": batch.total,
        "rows_written": batch.unique_valid,
        "rows_quarantined": batch.bad,
        "rows_duplicate": batch.duplicates,
    }
    runs = json.loads(run([installed.ops, "runs", "list", "--output", "json"], env=env, cwd=tmp_path).stdout)
    assert [(r["dataset"], r["rows_written"], r["conserved"]) for r in runs] == [("orders", batch.unique_valid, True)]


def test_a_failing_run_opens_an_incident_with_its_runbook(installed: Installed, tmp_path, prefect_api) -> None:
    env = {**installed.env(tmp_path / "home", prefect_api), "COLUMNS": "200"}

    done = run([installed.python, "-m", "flows.failing_run"], env=env, cwd=tmp_path)
    incidents = json.loads(run([installed.ops, "incident", "list", "--output", "json"], env=env, cwd=tmp_path).stdout)

    assert "would send pagerduty trigger" in done.stdout and "ops notify list" in done.stdout
    assert [(i["flow_name"], i["runbook"]) for i in incidents] == [("ingest-files", "source-unreachable")]
