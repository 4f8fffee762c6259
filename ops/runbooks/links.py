"""Where a person reads a runbook: the link Prefect artifacts give it."""

from __future__ import annotations

from ops.runbooks.catalog import runbooks_dir
from sluice.settings import Settings, get_settings


def runbook_url(runbook_id: str, settings: Settings | None = None) -> str:
    """The runbook's address: ``<SLUICE_RUNBOOK_BASE_URL>/<id>.md``, else a ``file://`` URL of its file."""
    base = (settings or get_settings()).notify.runbook_base_url
    if base:
        return f"{base.rstrip('/')}/{runbook_id}.md"
    return (runbooks_dir() / f"{runbook_id}.md").resolve().as_uri()


def runbook_link(runbook_id: str, settings: Settings | None = None) -> str:
    """The runbook as a Markdown link named by its id."""
    return f"[{runbook_id}]({runbook_url(runbook_id, settings)})"
