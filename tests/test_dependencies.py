"""Every library the product imports is declared in pyproject.toml, and the lockfiles pin every declared one.

A module-level import must be a runtime dependency. An import inside a
function may also come from an extra that product code uses (``postgres``,
``chaos``): such imports say which extra to install when it is missing. The
``test`` and ``docs`` extras are never enough for product code.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIRST_PARTY = ("sluice", "demo", "ops", "chaos", "flows", "tasks", "runbooks")
PRODUCT_EXTRAS = ("chaos",)
LOCKFILES = {"requirements.lock": None, "requirements-run.lock": ()}  # None: every extra; (): runtime only


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    found = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert found, f"not a requirement: {requirement!r}"
    return canonical(found[1])


@dataclass(frozen=True)
class Declared:
    runtime: frozenset[str]
    extras: dict[str, frozenset[str]]

    @classmethod
    def of(cls, pyproject: Path) -> Declared:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
        extras = {
            name: frozenset(map(requirement_name, reqs))
            for name, reqs in project.get("optional-dependencies", {}).items()
        }
        return cls(frozenset(map(requirement_name, project["dependencies"])), extras)

    def allowed(self, nested: bool) -> frozenset[str]:
        if not nested:
            return self.runtime
        return self.runtime.union(*(self.extras.get(e, frozenset()) for e in PRODUCT_EXTRAS))


@dataclass(frozen=True)
class Imported:
    top: str
    where: str
    nested: bool


def imports_of(path: Path, origin: str) -> Iterator[Imported]:
    """The top-level name of every absolute import in ``path``, and whether it sits inside a function."""

    def visit(node: ast.AST, nested: bool) -> Iterator[Imported]:
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield Imported(alias.name.split(".")[0], f"{origin}:{child.lineno}", nested)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                yield Imported(child.module.split(".")[0], f"{origin}:{child.lineno}", nested)
            yield from visit(child, inner)

    yield from visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), False)


def undeclared(
    root: Path, packages: tuple[str, ...], declared: Declared, distributions: dict[str, list[str]]
) -> list[str]:
    """One line per import that is neither stdlib, first-party, nor a declared distribution."""
    problems = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            for imp in imports_of(path, str(path.relative_to(root))):
                if imp.top in sys.stdlib_module_names or imp.top in FIRST_PARTY or imp.top == "__future__":
                    continue
                dists = {canonical(d) for d in distributions.get(imp.top, [])}
                if not dists:
                    problems.append(f"{imp.where}: {imp.top} is not installed, so no distribution declares it")
                elif not dists & declared.allowed(imp.nested):
                    kind = "inside a function, from no runtime or product extra" if imp.nested else "at module level"
                    problems.append(f"{imp.where}: {imp.top} ({', '.join(sorted(dists))}) is imported {kind}")
    return problems


def test_every_library_the_product_imports_is_declared() -> None:
    problems = undeclared(ROOT, FIRST_PARTY, Declared.of(ROOT / "pyproject.toml"), packages_distributions())
    assert not problems, "declare these in pyproject.toml:\n" + "\n".join(problems)


def test_the_check_reports_undeclared_module_level_and_extra_only_imports(tmp_path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\ndependencies = ["PyYAML>=6"]\n'
        '[project.optional-dependencies]\nchaos = ["moto[server]>=5"]\ntest = ["pytest"]\n'
    )
    (tmp_path / "ops").mkdir()
    (tmp_path / "ops" / "m.py").write_text(
        "import json\nimport yaml\nfrom sluice.errors import SluiceError\nfrom . import sibling\nimport moto\n"
        "def lazy():\n    import moto.server\n    import pytest\n    import left_pad\n"
    )
    distributions = {"yaml": ["PyYAML"], "moto": ["moto"], "pytest": ["pytest"]}

    problems = undeclared(tmp_path, ("ops",), Declared.of(tmp_path / "pyproject.toml"), distributions)

    assert problems == [
        "ops/m.py:5: moto (moto) is imported at module level",
        "ops/m.py:8: pytest (pytest) is imported inside a function, from no runtime or product extra",
        "ops/m.py:9: left_pad is not installed, so no distribution declares it",
    ]


def pinned(lockfile: Path) -> dict[str, str]:
    """``name -> version`` of every ``name==version`` line."""
    pins = {}
    for line in lockfile.read_text(encoding="utf-8").splitlines():
        found = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;\\]+)", line)
        if found:
            pins[canonical(found[1])] = found[3]
    return pins


@pytest.mark.parametrize("name", sorted(LOCKFILES))
def test_the_lockfile_pins_every_declared_dependency(name: str) -> None:
    declared = Declared.of(ROOT / "pyproject.toml")
    extras = declared.extras if LOCKFILES[name] is None else {}
    wanted = declared.runtime.union(*extras.values())
    pins = pinned(ROOT / name)
    missing = sorted(wanted - set(pins))
    assert not missing, f"{name} does not pin {missing}: run `make lock`"
    assert "sluice" not in pins, f"{name} pins the project itself"
