"""Runbook pages: one per runbook, and a runbook ``ops`` would refuse stops the build."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tools.sitegen import SiteError
from tools.sitegen.runbook_pages import runbook_pages

ROOT = Path(__file__).resolve().parents[2]
GOOD = """---
id: disk-full
title: The disk is full
owners: [data-platform]
severity: SEV2
matches:
  alert_rules: [disk-low]
  exceptions: [LakeError]
last_reviewed: 2026-11-25
---

# The disk is full

## Diagnose
`ops doctor`
"""


def folder_with(tmp_path: Path, **files: bytes) -> Path:
    (tmp_path / "README.md").write_text("# Runbooks\n", encoding="utf-8")
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return tmp_path


def test_a_runbook_page_shows_its_front_matter_and_body(tmp_path: Path) -> None:
    index, page = runbook_pages(folder_with(tmp_path, **{"disk-full.md": GOOD.encode()}))
    assert index.page == "runbooks/index.md"
    assert page.page == "runbooks/disk-full.md" and page.title == "The disk is full"
    assert page.markdown.startswith("# The disk is full\n")
    assert "| severity | SEV2 |" in page.markdown and "| alert rules | `disk-low` |" in page.markdown
    assert "| tags |" not in page.markdown  # empty matches are left out
    assert "## Diagnose" in page.markdown and "last_reviewed" not in page.markdown


def test_every_project_runbook_becomes_a_page() -> None:
    pages = runbook_pages(ROOT / "runbooks")
    files = sorted(p.name for p in (ROOT / "runbooks").glob("*.md") if p.name != "README.md")
    assert [p.page.removeprefix("runbooks/") for p in pages[1:]] == files


@pytest.mark.parametrize(
    "data",
    [
        b"# no front matter\n",
        GOOD.replace("SEV2", "SEV9").encode(),
        GOOD.replace("2026-11-25", "2026-13-45").encode(),
        b"---\n\xff\xfe\n---\n",
    ],
)
def test_a_runbook_ops_would_refuse_stops_the_build_naming_it(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(SiteError, match=re.escape("broken.md cannot be published")):
        runbook_pages(folder_with(tmp_path, **{"broken.md": data}))


def test_a_folder_without_its_index_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SiteError, match=re.escape("README.md does not exist")):
        runbook_pages(tmp_path)


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=300),
        st.text(alphabet=string.printable + "é—\x00", max_size=300).map(lambda t: f"---\n{t}\n---\n# x\n".encode()),
        st.text(max_size=40).map(lambda t: GOOD.replace("The disk is full", t, 1).encode()),
    )
)
def test_any_file_content_gives_a_page_or_a_clear_error(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    folder = folder_with(tmp_path_factory.mktemp("runbooks"), **{"any.md": data})
    try:
        pages = runbook_pages(folder)
    except SiteError as exc:
        assert "any.md" in str(exc)
    else:
        assert pages[1].page == "runbooks/any.md" and pages[1].markdown.startswith("# ")
