"""Runbook files made in a tmp folder."""

from __future__ import annotations

from pathlib import Path

BODY = """
# {title}

## Diagnose
1. `ops runs list --dataset DATASET`

## Mitigate
- `prefect deployment run 'ingest-files/orders-dev'`

## Verify
- `ops alerts list`
"""


def runbook_text(
    rid: str,
    *,
    rules: str = "[]",
    exceptions: str = "[]",
    flows: str = "[ingest-files]",
    tags: str = "[]",
    reviewed: str = "2026-11-01",
    body: str | None = None,
) -> str:
    return (
        f"---\nid: {rid}\ntitle: {rid.replace('-', ' ').title()}\nowners: [data-platform]\nseverity: SEV3\n"
        f"matches:\n  alert_rules: {rules}\n  exceptions: {exceptions}\n  flows: {flows}\n  tags: {tags}\n"
        f"last_reviewed: {reviewed}\n---\n" + (body if body is not None else BODY.format(title=rid))
    )


def write_runbook(folder: Path, rid: str, **kwargs: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{rid}.md"
    path.write_text(runbook_text(rid, **kwargs), encoding="utf-8")
    return path
