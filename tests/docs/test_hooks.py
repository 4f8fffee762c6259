"""The mkdocs hooks put the generated pages in the nav, or say why they cannot."""

from __future__ import annotations

import re

import pytest
from mkdocs.exceptions import PluginError

from tools.sitegen.hooks import _extend_section, _replace_marker


def test_generated_pages_join_the_section_that_lists_their_index() -> None:
    nav = [
        {"Home": "index.md"},
        {"Reference": [{"Configuration": "configuration.md"}, {"ops commands": ["ops/index.md"]}]},
    ]
    _extend_section(nav, "ops/index.md", [{"ops lake": "ops/lake.md"}])
    _extend_section(nav, "ops/index.md", [{"ops lake": "ops/lake.md"}])  # a rebuild adds nothing twice
    assert nav[1]["Reference"][1] == {"ops commands": ["ops/index.md", {"ops lake": "ops/lake.md"}]}


def test_a_nav_without_the_section_is_refused_naming_it() -> None:
    with pytest.raises(PluginError, match=re.escape("no nav section of mkdocs.yml lists runbooks/index.md")):
        _extend_section([{"Home": "index.md"}, {"Other": ["a.md"]}], "runbooks/index.md", [])


def test_a_page_without_its_marker_is_refused() -> None:
    assert _replace_marker("# C\n\n<!-- m -->\n", "<!-- m -->", "table", "c.md") == "# C\n\ntable\n"
    with pytest.raises(PluginError, match=re.escape("c.md has no <!-- m --> line")):
        _replace_marker("# C\n", "<!-- m -->", "table", "c.md")
