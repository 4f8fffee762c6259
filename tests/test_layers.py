"""The package layers hold: no module imports a layer above its own, and CLI modules share only public names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[1]


def test_no_package_imports_a_layer_above_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True) == 0, (
        "a module imports a layer above its own: see the layers in pyproject.toml ([tool.importlinter])"
    )


def _private_cli_imports(path: Path) -> list[str]:
    """``from ops.cli.<module> import _name``: a command module reaching into another's private helpers."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ops.cli."):
            found += [f"{path.name}:{node.lineno} {node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
    return found


def test_no_cli_module_imports_another_modules_private_name() -> None:
    offenders = [hit for path in sorted((ROOT / "ops" / "cli").glob("*.py")) for hit in _private_cli_imports(path)]
    assert offenders == [], "move shared helpers into an ops/cli/_<name>.py module and import its public names"


def test_the_private_name_check_catches_an_offender(tmp_path: Path) -> None:
    offender = tmp_path / "alerts.py"
    offender.write_text("from ops.cli.metrics import _store\n\ndef f():\n    from ops.cli.runs import _x\n")
    assert len(_private_cli_imports(offender)) == 2


def test_the_layer_contract_catches_an_upward_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A copy of the tree where ``sluice`` imports ``flows`` inside a function breaks the contract."""
    import shutil

    for package in ("sluice", "demo", "ops", "chaos", "tasks", "flows"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "sluice" / "upward.py").write_text("def f():\n    import flows.hooks\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [
        m for m in __import__("sys").modules if m.split(".")[0] in ("sluice", "demo", "ops", "chaos", "tasks", "flows")
    ]:
        monkeypatch.delitem(__import__("sys").modules, name)
    assert lint_imports(config_filename=str(tmp_path / "pyproject.toml"), no_cache=True) == 1
