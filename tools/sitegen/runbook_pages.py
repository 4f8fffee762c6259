"""Docs pages from ``runbooks/*.md``, read at build time so they never drift.

``runbooks/README.md`` becomes the section's index page as it is. Every other
runbook is parsed as ``ops`` parses it (:func:`ops.runbooks.catalog.parse_runbook`),
so a runbook that ``ops`` would refuse also fails the build, and becomes a page
at ``runbooks/<file name>``: its front matter as a table under the title, then
its body. Pages keep the file names, so the links between runbooks work on the
site as they do in the repository.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ops.errors import RunbookError
from ops.runbooks.catalog import Runbook, parse_runbook
from tools.sitegen import SiteError

INDEX = "README.md"


@dataclass(frozen=True)
class RunbookPage:
    """A generated page: where it goes under the docs folder, its title and its Markdown."""

    page: str
    title: str
    markdown: str


def runbook_pages(folder: Path) -> list[RunbookPage]:
    """The index page, then one page per runbook sorted by file name.

    Raises:
        SiteError: the folder or its index is missing, or a runbook does not parse.
    """
    index = folder / INDEX
    if not index.is_file():
        raise SiteError(f"{index} does not exist", hint="the runbooks folder needs its README.md index")
    pages = [RunbookPage("runbooks/index.md", "Runbooks", index.read_text(encoding="utf-8"))]
    for path in sorted(folder.glob("*.md")):
        if path.name == INDEX:
            continue
        try:
            book = parse_runbook(path.read_text(encoding="utf-8"), f"runbooks/{path.name}")
        except (RunbookError, ValueError) as exc:  # ValueError: undecodable bytes, impossible dates
            raise SiteError(
                f"runbook {path.name} cannot be published: {exc}", hint="`ops runbook lint` shows what is wrong"
            ) from None
        pages.append(RunbookPage(f"runbooks/{path.name}", book.title, render_runbook(book, path.name)))
    return pages


def render_runbook(book: Runbook, file_name: str) -> str:
    """The runbook's page: its title, what links incidents to it, then its body."""
    title, body = _split_title(book.body)
    rows = [
        ("id", f"`{book.id}`"),
        ("severity", book.severity),
        ("owners", ", ".join(book.owners)),
        ("alert rules", _codes(book.matches.alert_rules)),
        ("exceptions", _codes(book.matches.exceptions)),
        ("flows", _codes(book.matches.flows)),
        ("tags", _codes(book.matches.tags)),
        ("last reviewed", book.last_reviewed.isoformat()),
        ("source", f"`runbooks/{file_name}`"),
    ]
    table = ["| | |", "| --- | --- |"] + [f"| {key} | {value} |" for key, value in rows if value]
    return "\n".join([f"# {title or book.title}", "", *table, "", body.strip(), ""])


def _split_title(body: str) -> tuple[str | None, str]:
    """The body's leading ``# title`` line, if any, and the rest."""
    text = body.lstrip("\n")
    first, _, rest = text.partition("\n")
    if first.startswith("# "):
        return first[2:].strip(), rest
    return None, text


def _codes(values: list[str]) -> str:
    return ", ".join(f"`{v}`" for v in values)
