"""Pages of the docs site generated from the code, so they cannot drift from it.

- :mod:`tools.sitegen.settings_ref`: the configuration reference, from the one
  settings model, :class:`sluice.settings.Settings`, a heading per section;
- :mod:`tools.sitegen.cli_ref`: one page per ``ops`` command group, from the typer app;
- :mod:`tools.sitegen.runbook_pages`: one page per runbook in ``runbooks/``;
- :mod:`tools.sitegen.catalog_pages`: the catalog, a page per dataset from its contract;
- :mod:`tools.sitegen.hooks`: the mkdocs hooks that add those pages at build time.
"""

from __future__ import annotations


class SiteError(Exception):
    """The docs site cannot be generated as the code and the docs stand.

    Not a :class:`sluice.errors.SluiceError`: it stops a docs build, never a
    flow, so no runbook answers it.
    """

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base}\n  hint: {self.hint}" if self.hint else base
