"""Contracts folders for the catalog tests: the shipped ones, or small ones committed to git at given dates."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

SHIPPED = Path(__file__).resolve().parents[3] / "sluice" / "contracts"


def contract_yaml(name: str, *, mode: str = "append", version: int = 1, downstream: tuple[str, ...] = ()) -> str:
    order = "order_by: updated_at\n" if mode != "append" else ""
    down = f"downstream: [{', '.join(downstream)}]\n" if downstream else ""
    return (
        f"name: {name}\nversion: {version}\ndescription: The {name} of the shop.\nowner: {name}-team@example.com\n"
        f"freshness_sla: 2h\nprimary_key: [id]\nmode: {mode}\n{order}{down}partition:\n  column: day\n"
        "tags: [shop]\ncolumns:\n"
        "  - name: id\n    type: string\n    term: shop_id\n"
        "  - name: day\n    type: date\n"
        "  - name: contact\n    type: string\n    pii: email\n    description: where to write\n"
        "  - name: updated_at\n    type: timestamp\n"
    )


GLOSSARY = (
    "terms:\n  - name: shop_id\n    owner: data@example.com\n    definition: The number of a thing in the shop.\n"
    "    type: string\n"
)


def git(folder: Path, *args: str, date: str | None = None) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    if date:
        env |= {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True, env=env)


def committed_contracts(tmp_path: Path, versions: list[tuple[str, dict[str, str]]]) -> Path:
    """A git repository whose ``contracts/`` folder gets one commit per ``(date, files)``; returns the folder.

    A file name with a slash is relative to the repository (``policies/shop.yaml``).
    """
    repo = tmp_path / "repo"
    folder = repo / "contracts"
    folder.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    for date, files in versions:
        for name, text in files.items():
            path = repo / name if "/" in name else folder / name  # "policies/x.yaml": beside contracts/
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"contracts of {date}", date=date)
    return folder


def shipped_copy(tmp_path: Path) -> Path:
    root = tmp_path / "contracts"
    shutil.copytree(SHIPPED, root)
    return root


def policy_yaml(name: str, role: str) -> str:
    return f"dataset: {name}\nrules:\n  - name: {role}s\n    when: {{roles: [{role}]}}\n    masks: {{contact: hash}}\n"
