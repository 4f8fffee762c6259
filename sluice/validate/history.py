"""Contracts as they were: at a git revision, or in a folder of earlier copies; and the check of every change.

:func:`check_contracts` compares every contract in the contracts folder with
its version at a base revision and judges each change
(:func:`sluice.validate.evolution.diff_contracts`). The default base is the
merge base of ``HEAD`` with ``origin/main`` (or ``main``), so a branch is
judged by everything it changes; on ``main`` itself (``HEAD`` is the merge
base), it is ``HEAD`` when the contracts folder has uncommitted changes, and
otherwise ``HEAD~``, the last commit's change. Git is run as the ``git``
command on the folder's repository.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sluice.errors import ContractError
from sluice.validate.contracts import (
    GLOSSARY_FILE,
    Contract,
    available_contracts,
    find_contract,
    load_contract,
    parse_contract,
)
from sluice.validate.evolution import ContractDiff, diff_contracts

MAIN_BRANCHES = ("origin/main", "main")
HISTORY_COMMITS = 200  # commits of a contract's file read for the transitive levels


def _git(top: Path, *args: str) -> subprocess.CompletedProcess[str]:
    git = shutil.which("git")
    if git is None:
        raise ContractError("the git command is not installed", hint="install git, or compare folders with --previous")
    return subprocess.run([git, "-C", str(top), *args], capture_output=True, text=True, check=False)


def repo_top(folder: Path) -> Path | None:
    """The top of the git checkout holding ``folder``; None outside one."""
    if shutil.which("git") is None or not folder.is_dir():
        return None
    done = _git(folder, "rev-parse", "--show-toplevel")
    return Path(done.stdout.strip()) if done.returncode == 0 else None


@dataclass(frozen=True)
class Repo:
    """The git checkout of a contracts folder: its top, and the folder's path inside it."""

    top: Path
    folder: str  # relative to top, "" for the top itself

    @classmethod
    def of(cls, root: Path) -> Repo:
        top = repo_top(root)
        if top is None:
            raise ContractError(
                f"the contracts folder {root} is not in a git checkout",
                hint="compare with a folder of earlier contracts: --previous DIR",
            )
        rel = root.resolve().relative_to(top.resolve()).as_posix()
        return cls(top, "" if rel == "." else rel)

    def path(self, name: str) -> str:
        return f"{self.folder}/{name}.yaml" if self.folder else f"{name}.yaml"

    def commit(self, ref: str) -> str | None:
        done = _git(self.top, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        return done.stdout.strip() if done.returncode == 0 else None

    def ensure_commit(self, ref: str) -> str:
        sha = self.commit(ref)
        if sha is None:
            raise ContractError(
                f"unknown git revision {ref!r} in {self.top}",
                hint="name a branch, tag or commit (`git log --oneline` lists them); "
                "in a shallow clone, fetch it first (git fetch origin main)",
            )
        return sha

    def show(self, sha: str, name: str) -> str | None:
        done = _git(self.top, "show", f"{sha}:{self.path(name)}")
        return done.stdout if done.returncode == 0 else None

    def names(self, sha: str) -> list[str]:
        """The contract names in the folder at ``sha``."""
        prefix = f"{self.folder}/" if self.folder else ""
        done = _git(self.top, "ls-tree", "--name-only", sha, prefix or ".")
        files = [line.removeprefix(prefix) for line in done.stdout.splitlines()]
        return sorted(
            f.removesuffix(".yaml") for f in files if f.endswith(".yaml") and "/" not in f and f != GLOSSARY_FILE
        )

    def dirty(self) -> bool:
        done = _git(self.top, "status", "--porcelain", "--", self.folder or ".")
        return bool(done.stdout.strip())

    def last_before(self, when: str) -> tuple[str, str] | None:
        """The newest commit at or before ``when`` (ISO 8601): its sha and commit date (None: none that early)."""
        done = _git(self.top, "log", "-1", f"--before={when}", "--format=%H %cI", "HEAD")
        sha, _, date = done.stdout.strip().partition(" ")
        return (sha, date) if done.returncode == 0 and sha else None

    def first_commit_date(self) -> str | None:
        """The date of the oldest commit that touched the folder."""
        done = _git(self.top, "log", "--reverse", "--format=%cI", "HEAD", "--", self.folder or ".")
        lines = done.stdout.split()
        return lines[0] if done.returncode == 0 and lines else None

    def touching(self, sha: str, name: str) -> list[str]:
        """Commits up to ``sha`` that changed the contract's file, newest first."""
        done = _git(self.top, "log", f"-{HISTORY_COMMITS}", "--format=%H", sha, "--", self.path(name))
        return done.stdout.split()


def contract_at(root: Path, name: str, ref: str) -> Contract:
    """The contract ``name`` as it was at git revision ``ref``.

    Raises:
        ContractError: not a git checkout, an unknown revision, or no such contract there.
    """
    repo = Repo.of(root)
    sha = repo.ensure_commit(ref)
    text = repo.show(sha, name)
    if text is None:
        known = repo.names(sha)
        raise ContractError(
            f"no contract named {name!r} at {ref}",
            hint=f"contracts at {ref}: {', '.join(known) or 'none'}",
        )
    return _parsed(text, name, f"{name}@{ref}")


def _parsed(text: str, name: str, origin: str) -> Contract:
    contract = parse_contract(text, origin=origin)
    if contract.name != name:
        raise ContractError(
            f"contract {origin} declares name {contract.name!r}", hint="a contract's name is its file's name"
        )
    return contract


def load_ref(spec: str, root: Path) -> Contract:
    """A contract named on the command line: a file path, ``NAME@REF`` (a git revision), or a name.

    Raises:
        ContractError: the file, revision or contract does not exist or does not load.
    """
    path = Path(spec)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise ContractError(f"contract file {spec} does not exist", hint="give a path, NAME@REF or a name")
        return parse_contract(path.read_text(encoding="utf-8"), origin=spec)
    if "@" in spec:
        name, ref = spec.split("@", 1)
        return contract_at(root, name, ref or "HEAD")
    return find_contract(spec, root)


@dataclass(frozen=True)
class ContractCheck:
    """One contract's change from the base: ``status`` is unchanged, changed, new, removed or invalid."""

    name: str
    status: str
    ok: bool
    problems: tuple[str, ...] = ()
    diff: ContractDiff | None = None


@dataclass(frozen=True)
class CheckReport:
    base: str  # what the contracts were compared with
    checks: tuple[ContractCheck, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


def _judged(name: str, old: Contract | None, new: Contract, history: list[Contract]) -> ContractCheck:
    if old is None:
        return ContractCheck(name, "new", True)
    diff = diff_contracts(old, new, history)
    if not diff.schema_changed and not diff.other and diff.version_problem is None:
        return ContractCheck(name, "unchanged", True, diff=diff)
    return ContractCheck(name, "changed", diff.ok, tuple(diff.problems), diff)


def _current(root: Path, name: str) -> Contract | ContractCheck:
    try:
        return load_contract(root / f"{name}.yaml")
    except ContractError as exc:
        return ContractCheck(name, "invalid", False, (str(exc.args[0]),))


def _loaded(text: str | None, name: str, origin: str) -> Contract | None:
    """A contract's earlier text, or None when it is absent or never loaded (nothing to judge against)."""
    if text is None:
        return None
    try:
        return _parsed(text, name, origin)
    except ContractError:
        return None


def _history(repo: Repo, sha: str, name: str, old: Contract) -> list[Contract]:
    """The contract's earlier versions before ``old`` (oldest first), the last text of each version number."""
    by_version: dict[int, Contract] = {}
    for commit in repo.touching(sha, name):
        found = _loaded(repo.show(commit, name), name, f"{name}@{commit[:12]}")
        if found is not None and found.version < old.version:
            by_version.setdefault(found.version, found)
    return [by_version[v] for v in sorted(by_version)]


def _base_commit(repo: Repo, against: str | None) -> tuple[str, str] | None:
    """The revision to compare with and how to name it; None when there is none (a first commit)."""
    if against is not None:
        return repo.ensure_commit(against), against
    head = repo.commit("HEAD")
    for main in MAIN_BRANCHES:
        if head is not None and repo.commit(main) is not None:
            done = _git(repo.top, "merge-base", "HEAD", main)
            base = done.stdout.strip()
            if done.returncode == 0 and base != head:
                return base, f"the merge base with {main} ({base[:12]})"
            break
    if head is not None and repo.dirty():
        return head, "HEAD"
    if (before := repo.commit("HEAD~")) is not None:
        return before, "HEAD~"
    if _git(repo.top, "rev-parse", "--is-shallow-repository").stdout.strip() == "true":
        raise ContractError(
            "a shallow clone holds no earlier revision to compare the contracts with",
            hint="fetch main (git fetch origin main) or deepen the clone, or pass --against",
        )
    return None


def check_contracts(root: Path, *, against: str | None = None, previous: Path | None = None) -> CheckReport:
    """Judge every contract in ``root`` against its version at ``against`` (default above) or in ``previous``.

    Raises:
        ContractError: not a git checkout (without ``previous``), an unknown revision, a missing folder.
    """
    names = available_contracts(root)
    if previous is not None:
        if not previous.is_dir():
            raise ContractError(f"the folder {previous} does not exist", hint="give the folder of earlier contracts")
        files = {n: previous / f"{n}.yaml" for n in names}
        old = {n: _loaded(p.read_text(encoding="utf-8"), n, str(p)) for n, p in files.items() if p.is_file()}
        gone = sorted(set(available_contracts(previous)) - set(names))
        return _report(root, names, old, gone, str(previous), _no_history)
    repo = Repo.of(root)
    base = _base_commit(repo, against)
    if base is None:
        return _report(root, names, {}, [], "no earlier revision", _no_history)
    sha, label = base
    old = {n: _loaded(repo.show(sha, n), n, f"{n}@{label}") for n in names}
    gone = sorted(set(repo.names(sha)) - set(names))
    return _report(root, names, old, gone, label, lambda name, contract: _history(repo, sha, name, contract))


History = Callable[[str, Contract], list[Contract]]


def _no_history(name: str, contract: Contract) -> list[Contract]:
    return []


def _report(
    root: Path, names: list[str], old: dict[str, Contract | None], gone: list[str], label: str, history: History
) -> CheckReport:
    checks = []
    for name in names:
        current = _current(root, name)
        if isinstance(current, ContractCheck):
            checks.append(current)
            continue
        before = old.get(name)
        past = history(name, before) if before is not None and current.compatibility.transitive else []
        checks.append(_judged(name, before, current, past))
    checks += [ContractCheck(n, "removed", True) for n in gone]
    return CheckReport(label, tuple(checks))
