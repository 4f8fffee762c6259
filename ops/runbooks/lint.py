"""``ops runbook lint``: runbooks that name real commands, and a runbook for every alert and known failure.

Errors:
  * a runbook names an ``ops`` command (or an option of it) that the CLI does not have;
  * a runbook lacks a Diagnose, Mitigate or Verify section, or its id is not its file name;
  * two runbooks share an id;
  * an alert rule names a runbook that does not exist;
  * a known failure (an exception type Sluice's flows raise) matches no runbook.

Warning:
  * ``last_reviewed`` is older than 90 days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from ops.alerts.rules import RuleSet
from ops.runbooks.catalog import STEP_SECTIONS, Runbook
from ops.runbooks.match import MatchContext, rank

STALE_AFTER = timedelta(days=90)


@dataclass(frozen=True)
class LintIssue:
    level: str  # error | warning
    runbook: str
    message: str


def known_failures() -> list[type[BaseException]]:
    """The exception types Sluice raises on purpose in its flows: every subclass of ``SluiceError``.

    Every ``sluice`` module is imported first, so the answer does not depend on
    which modules happened to be loaded.
    """
    import importlib
    import pkgutil

    import sluice
    from sluice.errors import SluiceError

    for module in pkgutil.walk_packages(sluice.__path__, "sluice."):
        importlib.import_module(module.name)

    seen: list[type[BaseException]] = []
    stack: list[type[BaseException]] = list(SluiceError.__subclasses__())
    while stack:
        kind = stack.pop()
        if kind not in seen and not kind.__module__.startswith("ops."):
            seen.append(kind)
        stack.extend(kind.__subclasses__())
    return sorted(seen, key=lambda k: k.__name__)


def check_command(command: str, cli: Any) -> str | None:
    """Why ``command`` (``ops ...``) does not exist in the CLI tree ``cli``, or None when it does.

    ``cli`` is the click-style command tree of the ``ops`` app: groups have a
    ``commands`` mapping, every command has ``params`` with ``opts``.
    """
    words = command.split()[1:]
    node = cli
    path = ["ops"]
    while words and getattr(node, "commands", None) is not None and not words[0].startswith("-"):
        child = node.commands.get(words[0])
        if child is None:
            return f"`{' '.join(path)}` has no command {words[0]!r}"
        path.append(words.pop(0))
        node = child
    if getattr(node, "commands", None) is not None and not getattr(node, "invoke_without_command", False):
        return f"`{' '.join(path)}` needs a subcommand"
    options = {o for p in node.params for o in (*p.opts, *getattr(p, "secondary_opts", ()))}
    for word in words:
        name = word.split("=", 1)[0]
        if name.startswith("-") and name not in options:
            return f"`{' '.join(path)}` has no option {name}"
    return None


def lint(
    books: list[Runbook], rules: RuleSet, cli: Any, today: date, failures: list[type[BaseException]] | None = None
) -> list[LintIssue]:
    issues = [i for book in books for i in _lint_book(book, cli, today)]
    seen: dict[str, str] = {}
    for book in books:
        if book.id in seen:
            issues.append(LintIssue("error", book.id, f"id also used by {seen[book.id]}"))
        seen[book.id] = book.path
    ids = {b.id for b in books}
    for rule in rules.rules:
        if rule.runbook not in ids:
            issues.append(LintIssue("error", rule.runbook, f"alert rule {rule.id} names a runbook that does not exist"))
    for kind in failures if failures is not None else known_failures():
        bases = tuple(k.__name__ for k in kind.__mro__[1:] if k not in (Exception, BaseException, object))
        if not rank(MatchContext(exception_type=kind.__name__, bases=bases), books):
            issues.append(LintIssue("error", "-", f"no runbook matches the failure {kind.__name__}"))
    return issues


def _lint_book(book: Runbook, cli: Any, today: date) -> list[LintIssue]:
    issues = []
    if book.path and Path(book.path).stem != book.id:
        issues.append(LintIssue("error", book.id, f"id differs from the file name {Path(book.path).name}"))
    missing = [s for s in STEP_SECTIONS if s not in book.sections]
    if missing:
        issues.append(LintIssue("error", book.id, f"missing section(s): {', '.join(missing)}"))
    for command in book.commands():
        if command.startswith("ops "):
            problem = check_command(command, cli)
            if problem:
                issues.append(LintIssue("error", book.id, f"{problem} (in `{command}`)"))
    if today - book.last_reviewed > STALE_AFTER:
        issues.append(LintIssue("warning", book.id, f"last reviewed {book.last_reviewed}, over 90 days ago"))
    return issues
