"""Pages of the docs site generated from the code, so they cannot drift from it.

- :mod:`tools.sitegen.settings_ref`: the configuration reference, from every
  ``BaseSettings`` class in ``sluice``, ``ops`` and ``chaos``;
- :mod:`tools.sitegen.cli_ref`: one page per ``ops`` command group, from the typer app;
- :mod:`tools.sitegen.runbook_pages`: one page per runbook in ``runbooks/``;
- :mod:`tools.sitegen.hooks`: the mkdocs hooks that add those pages at build time.
"""

from __future__ import annotations

from sluice.errors import SluiceError


class SiteError(SluiceError):
    """The docs site cannot be generated as the code and the docs stand."""
