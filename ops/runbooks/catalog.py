"""Loading runbooks: ``runbooks/<id>.md`` with YAML front matter.

::

    ---
    id: schema-drift
    title: Schema drift at the source
    owners: [data-platform]
    severity: SEV3
    matches:
      alert_rules: [quarantine-rate-spike]
      exceptions: [ContractError]
      flows: [ingest-files]
      tags: [schema, missing_column]
    last_reviewed: 2026-11-25
    ---
    # ... with sections Diagnose, Mitigate and Verify

The folder is ``SLUICE_RUNBOOKS_DIR``, by default the ``runbooks/`` installed with
Sluice: the top-level ``runbooks`` package, whose Markdown files are its package
data (the repository's ``runbooks/`` in an editable install).
"""

from __future__ import annotations

import re
from datetime import date
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ops.errors import RunbookError
from sluice.settings import get_settings

FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n(.*)\Z", re.S)
COMMAND = re.compile(r"`((?:ops|prefect)\s[^`]+)`")
SECTION = re.compile(r"^##\s+(.+?)\s*$", re.M)
STEP_SECTIONS = ("Diagnose", "Mitigate", "Verify")


class Matches(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    alert_rules: list[str] = Field(default_factory=list)
    exceptions: list[str] = Field(default_factory=list)
    flows: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)


class Runbook(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    title: str
    owners: list[str]
    severity: str = Field(pattern=r"^SEV[1-4]$")
    matches: Matches = Field(default_factory=Matches)
    last_reviewed: date
    path: str = ""
    body: str = ""

    @property
    def sections(self) -> list[str]:
        return SECTION.findall(self.body)

    def commands(self) -> list[str]:
        """Every ``ops ...`` or ``prefect ...`` command the runbook names in backticks."""
        return [" ".join(c.split()) for c in COMMAND.findall(self.body)]

    def steps(self) -> dict[str, str]:
        """The text of each Diagnose / Mitigate / Verify section."""
        parts = SECTION.split(self.body)
        return {
            parts[i].strip(): parts[i + 1].strip()
            for i in range(1, len(parts) - 1, 2)
            if parts[i].strip() in STEP_SECTIONS
        }


def packaged_runbooks() -> Path:
    """The folder of the ``runbooks`` package installed with Sluice.

    Raises:
        RunbookError: the package is missing, or installed somewhere that is not a folder (a zip file).
    """
    try:
        folder = resources.files("runbooks")
    except ModuleNotFoundError:
        raise RunbookError(
            "the runbooks package is not installed", hint="reinstall Sluice, or set SLUICE_RUNBOOKS_DIR"
        ) from None
    if not isinstance(folder, Path):
        raise RunbookError(
            f"the installed runbooks at {folder} are not a folder on disk",
            hint="set SLUICE_RUNBOOKS_DIR to a folder of runbooks",
        )
    return folder


def runbooks_dir() -> Path:
    """``SLUICE_RUNBOOKS_DIR`` if set, else the runbooks installed with Sluice."""
    return get_settings().runbooks.runbooks_dir or packaged_runbooks()


def parse_runbook(text: str, origin: str) -> Runbook:
    """One runbook from its Markdown text.

    Raises:
        RunbookError: no front matter, invalid YAML, or fields that break the format.
    """
    found = FRONT_MATTER.match(text)
    if not found:
        raise RunbookError(f"{origin}: no YAML front matter", hint="start the file with a '---' block")
    try:
        meta = yaml.safe_load(found[1])
    except yaml.YAMLError as exc:
        raise RunbookError(f"{origin}: front matter is not valid YAML: {exc}") from None
    if not isinstance(meta, dict):
        raise RunbookError(f"{origin}: front matter must be a mapping")
    try:
        return Runbook.model_validate({**meta, "path": origin, "body": found[2]})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise RunbookError(f"{origin}: {problems}", hint="runbooks/README.md describes the format") from None


def load_runbooks(folder: Path | None = None) -> list[Runbook]:
    """Every runbook in ``folder`` (README.md excepted), sorted by id."""
    folder = folder or runbooks_dir()
    if not folder.is_dir():
        raise RunbookError(f"runbook folder {folder} does not exist", hint="set SLUICE_RUNBOOKS_DIR")
    books = [
        parse_runbook(p.read_text(encoding="utf-8"), str(p))
        for p in sorted(folder.glob("*.md"))
        if p.name.lower() != "readme.md"
    ]
    return sorted(books, key=lambda b: b.id)


def find_runbook(runbook_id: str, books: list[Runbook]) -> Runbook:
    for book in books:
        if book.id == runbook_id:
            return book
    import difflib

    close = difflib.get_close_matches(runbook_id, [b.id for b in books], n=1)
    raise RunbookError(
        f"no runbook {runbook_id!r}", hint=f"did you mean {close[0]!r}?" if close else "`ops runbook list` shows them"
    )
